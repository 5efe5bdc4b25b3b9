"""Shared helpers of the tests of focusmim.masking: smooth test images, generators, one masker call."""
import torch

from focusmim import masking

NAMES = [
    "none", "random_patches", "masked_periphery", "blurry_patches",
    "blurry_periphery", "foveal", "central", "covert_attention",
]


def images(b=4, size=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish structure plus noise, so blur and foveation visibly change it
    base = torch.rand((b, 3, size // 8, size // 8), generator=g)
    x = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand((b, 3, size, size), generator=g)).clamp(0, 1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def run(name, x, seed=0, **kw):
    extra = {}
    if name == "covert_attention" and kw.get("placement") == "object":
        extra["foreground"] = torch.rand((x.shape[0], 1, *x.shape[-2:]), generator=gen(99))
    return masking.build(name, **kw)(x, gen(seed), **extra)
