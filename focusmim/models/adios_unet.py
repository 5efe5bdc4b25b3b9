"""The ADIOS mask network: a small UNet that outputs N soft masks per image.

Structure (after the ADIOS paper's description; written from scratch here):

* ``num_blocks`` down blocks, each ``conv3x3 -> GroupNorm(8) -> ReLU``; between
  them nearest-neighbour downsampling by 2 (none after the last one);
* an MLP bottleneck on the flattened deepest map
  (``Linear -> ReLU -> Linear -> ReLU -> Linear -> ReLU``, hidden 128), reshaped
  back to the map;
* ``num_blocks`` up blocks, each taking the previous map concatenated with the
  matching down block's output (skip connection), nearest upsampling by 2
  between them;
* head: a 1x1 convolution to ``n_masks`` channels and a softmax over them, so
  the masks are non-negative and sum to 1 at every pixel.

The number of blocks follows the image size when not given: the largest
number up to 5 that leaves a deepest map of at least 4x4 (5 at 96 px -> 6x6,
4 at 32 px -> 4x4, 3 at 16 px -> 4x4).

Example:
    >>> import torch
    >>> from focusmim.models import build
    >>> net = build("adios_unet", image_size=32, n_masks=4)
    >>> net.num_blocks
    4
    >>> masks = net(torch.rand(2, 3, 32, 32))
    >>> tuple(masks.shape), bool(torch.allclose(masks.sum(1), torch.ones(2, 32, 32)))
    ((2, 4, 32, 32), True)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from focusmim.config.schemas import MODELS

register = MODELS.register

__all__ = ["AdiosUNet", "adios_unet", "default_num_blocks"]


def default_num_blocks(image_size: int, max_blocks: int = 5, min_map: int = 4) -> int:
    """Largest block count <= ``max_blocks`` whose deepest map side is an integer >= ``min_map``.

    Example:
        >>> default_num_blocks(96), default_num_blocks(32), default_num_blocks(16)
        (5, 4, 3)
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size={image_size!r} is not allowed; allowed: a whole number >= 1")
    for n in range(max_blocks, 0, -1):
        f = 2 ** (n - 1)
        if image_size % f == 0 and image_size // f >= min_map:
            return n
    return 1


class _ConvGNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, groups: int = 8):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.GroupNorm(groups, c_out),
            nn.ReLU(inplace=True),
        )


class AdiosUNet(nn.Module):
    """ADIOS mask network: ``masks = net(x)``, float ``(B, n_masks, H, W)``, softmax over masks.

    Args:
        n_masks: number of masks N (ADIOS on STL-10: 6), at least 1.
        image_size: input side (the MLP bottleneck is sized for it).
        num_blocks: down/up blocks; ``None`` picks :func:`default_num_blocks`.
        filter_start: channels of the first block (then doubled), a multiple of 8.
        mlp_hidden: width of the bottleneck MLP.

    Example:
        >>> import torch
        >>> net = AdiosUNet(n_masks=3, image_size=16, filter_start=8)
        >>> tuple(net(torch.rand(1, 3, 16, 16)).shape)
        (1, 3, 16, 16)
    """

    def __init__(
        self,
        n_masks: int = 6,
        image_size: int = 96,
        num_blocks: int | None = None,
        filter_start: int = 32,
        mlp_hidden: int = 128,
    ):
        super().__init__()
        if isinstance(n_masks, bool) or not isinstance(n_masks, int) or n_masks < 1:
            raise ValueError(f"n_masks={n_masks!r} is not allowed; allowed: a whole number >= 1")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size={image_size!r} is not allowed; allowed: a whole number >= 1")
        if num_blocks is None:
            num_blocks = default_num_blocks(image_size)
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or not (1 <= num_blocks <= 8):
            raise ValueError(f"num_blocks={num_blocks!r} is not allowed; allowed: None or a whole number 1..8")
        if image_size % 2 ** (num_blocks - 1):
            raise ValueError(
                f"image_size={image_size} is not allowed with num_blocks={num_blocks}; "
                f"allowed: a multiple of {2 ** (num_blocks - 1)}"
            )
        if isinstance(filter_start, bool) or not isinstance(filter_start, int) or filter_start < 8 or filter_start % 8:
            raise ValueError(
                f"filter_start={filter_start!r} is not allowed; allowed: a multiple of 8 (GroupNorm has 8 groups)"
            )
        if isinstance(mlp_hidden, bool) or not isinstance(mlp_hidden, int) or mlp_hidden < 1:
            raise ValueError(f"mlp_hidden={mlp_hidden!r} is not allowed; allowed: a whole number >= 1")
        c = filter_start
        n = num_blocks
        # channels: c for the shallow blocks, 2c for the last three (as in ADIOS at 5 blocks)
        enc_out = [c if i < max(1, n - 3) else 2 * c for i in range(n)] if n > 1 else [2 * c]
        dec_out = [enc_out[n - 2 - i] for i in range(n - 1)] + [c]
        dec_in = [enc_out[-1] + enc_out[-1]] + [dec_out[i - 1] + enc_out[n - 1 - i] for i in range(1, n)]
        self.n_masks, self.image_size, self.num_blocks = n_masks, image_size, n
        self.map_size = image_size // 2 ** (n - 1)
        self.down = nn.ModuleList(_ConvGNReLU(i, o) for i, o in zip([3] + enc_out[:-1], enc_out))
        self.up = nn.ModuleList(_ConvGNReLU(i, o) for i, o in zip(dec_in, dec_out))
        flat = enc_out[-1] * self.map_size**2
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, mlp_hidden), nn.ReLU(inplace=True),
            nn.Linear(mlp_hidden, mlp_hidden), nn.ReLU(inplace=True),
            nn.Linear(mlp_hidden, flat), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.head = nn.Conv2d(c, n_masks, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax scores ``(B, n_masks, H, W)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x has shape {shape}; allowed: a float tensor (B, 3, H, W)")
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"x has spatial size {tuple(x.shape[-2:])}; allowed: ({self.image_size}, {self.image_size}) "
                f"(the image_size this network was built for)"
            )
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h)
            skips.append(h)
            if i < self.num_blocks - 1:
                h = F.interpolate(h, scale_factor=0.5, mode="nearest")
        h = self.mlp(h).view_as(h)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips[-1 - i]], dim=1))
            if i < self.num_blocks - 1:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x).float(), dim=1)


@register("adios_unet")
def adios_unet(
    n_masks: int = 6,
    image_size: int = 96,
    num_blocks: int | None = None,
    filter_start: int = 32,
    mlp_hidden: int = 128,
    width: float | None = None,
) -> AdiosUNet:
    """Factory for :class:`AdiosUNet` (registry name ``adios_unet``).

    ``width`` is accepted for a uniform ``build(name, width=...)`` call and
    scales ``filter_start`` (rounded to a multiple of 8, at least 8).
    """
    if width is not None:
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not (0 < width <= 4):
            raise ValueError(f"width={width!r} is out of range; allowed: None or a number in (0, 4]")
        filter_start = max(8, int(round(filter_start * width / 8)) * 8)
    return AdiosUNet(
        n_masks=n_masks, image_size=image_size, num_blocks=num_blocks,
        filter_start=filter_start, mlp_hidden=mlp_hidden,
    )  # fmt: skip
