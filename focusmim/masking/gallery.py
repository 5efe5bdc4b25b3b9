"""A gallery of every masker on real photos (the analogue of the paper's Figure 2).

Example:
    >>> from focusmim.masking.gallery import example_images, render_masked
    >>> x = example_images(size=96)
    >>> tuple(x.shape)
    (4, 3, 96, 96)
    >>> masked, weight = render_masked(x[0], "masked_periphery", ratio=0.8)
    >>> masked.shape, weight.shape
    ((96, 96, 3), (96, 96))
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from focusmim import masking

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
GALLERY_ORDER = (
    "none", "random_patches", "blurry_patches", "masked_periphery", "blurry_periphery",
    "foveal", "central", "covert_attention",
)


def example_images(size: int = 96, names: Sequence[str] = PHOTOS) -> torch.Tensor:
    """Real photos shipped with scikit-image, centre-cropped and resized: float (N,3,size,size) in [0,1]."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 12:
        raise ValueError(f"size={size!r} is not allowed; allowed: an integer of at least 12")
    import skimage.data

    out = []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None or name not in PHOTOS + ("cat", "immunohistochemistry", "retina", "hubble_deep_field"):
            raise ValueError(f"names contains {name!r}; allowed: {', '.join(PHOTOS)}")
        img = np.asarray(loader())
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        img = img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        t = torch.from_numpy(np.ascontiguousarray(img[top : top + s, left : left + s])).permute(2, 0, 1).float() / 255
        out.append(F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(out).clamp(0, 1)


def _as_batch(image: Any) -> torch.Tensor:
    if isinstance(image, np.ndarray):
        arr = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"image has shape {arr.shape}; allowed: (H, W, 3) arrays or (3, H, W) tensors")
        return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()
    if isinstance(image, torch.Tensor):
        t = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[:2] != (1, 3):
            raise ValueError(f"image has shape {tuple(image.shape)}; allowed: (3, H, W) or (1, 3, H, W)")
        return t
    raise ValueError(f"image is a {type(image).__name__}; allowed: a torch tensor (3,H,W) or a numpy array (H,W,3)")


def render_masked(
    image: Any,
    name: str,
    *,
    generator_seed: int = 0,
    index: int = 0,
    foreground: Any = None,
    **params: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one image for display: returns ``(masked (H,W,3), weight (H,W))`` float numpy arrays.

    ``image`` is a tensor (3,H,W) / (1,3,H,W) in [0,1] (or uint8) or a numpy array (H,W,3);
    ``params`` go to ``masking.build(name, ...)`` (e.g. ``center=(cy, cx)`` to move the
    fixation). ``generator_seed`` seeds random maskers, ``index`` keys fixed patches, and
    ``foreground`` (H,W) or (1,H,W) is needed for covert attention on the object.
    """
    x = _as_batch(image)
    masker = masking.build(name, **params)
    fg = None
    if foreground is not None:
        fg = torch.as_tensor(np.asarray(foreground) if not isinstance(foreground, torch.Tensor) else foreground)
        fg = fg.float().reshape(1, 1, *x.shape[-2:])
    out = masker(x, torch.Generator().manual_seed(generator_seed), index=torch.tensor([index]), foreground=fg)
    return out.inputs[0].permute(1, 2, 0).numpy(), out.weight[0, 0].numpy()


def gallery(
    images: torch.Tensor | None = None,
    names: Sequence[str] | None = None,
    params: dict | None = None,
    seed: int = 0,
    show_loss: bool = True,
):
    """A matplotlib Figure: one row per masker, one column per image.

    ``params`` maps masker names to keyword arguments. With ``show_loss`` the pixels outside
    the loss region are drawn at reduced brightness in a second column group, so where the
    model is trained is visible. For covert attention, a centred blob stands in for the
    foreground map (placement "object") unless params say otherwise.

    Example:
        >>> fig = gallery(example_images(48)[:2], names=["none", "foveal"], show_loss=False)
        >>> len(fig.axes)
        4
    """
    import matplotlib.pyplot as plt

    x = example_images() if images is None else images
    names = list(GALLERY_ORDER if names is None else names)
    params = dict(params or {})
    for n in names:
        masking.REGISTRY.check(n, "names")
    bad = [k for k in params if k not in names]
    if bad:
        raise ValueError(f"params has keys {bad}; allowed: the masker names drawn ({', '.join(names)})")
    B, _, H, W = x.shape
    cols = B * (2 if show_loss else 1)
    fig, axes = plt.subplots(len(names), cols, figsize=(1.4 * cols, 1.5 * len(names)), squeeze=False)
    for r, n in enumerate(names):
        kw = dict(params.get(n, {}))
        fg = None
        if n == "covert_attention":
            kw.setdefault("placement", "random")
            ii, jj = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
            fg = torch.exp(-((ii - H * 0.3) ** 2 + (jj - W * 0.7) ** 2) / (2 * (H / 8) ** 2))
            fg = fg.float().expand(B, 1, H, W).contiguous()
        out = masking.build(n, **kw)(x, torch.Generator().manual_seed(seed), index=torch.arange(B), foreground=fg)
        for b in range(B):
            ax = axes[r, b]
            ax.imshow(out.inputs[b].permute(1, 2, 0).clamp(0, 1).numpy())
            if show_loss:
                ax2 = axes[r, B + b]
                shade = (0.25 + 0.75 * out.weight[b]).expand(3, H, W)
                ax2.imshow((x[b] * shade).permute(1, 2, 0).numpy())
        axes[r, 0].set_ylabel(n.replace("_", "\n"), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("encoder input", fontsize=8, loc="left")
    if show_loss:
        axes[0, B].set_title("loss region (bright)", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
