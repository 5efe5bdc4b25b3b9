"""Grid periphery: only the central ``keep x keep`` cells of a ``grid x grid`` grid stay visible.

FocusMIM's ConvNeXt experiment predicts the surround from the central 3x3 of
the 7x7 patch grid that a ConvNeXt has at 224 px (its final stage is 7x7, one
position per 32x32 pixels). This masker reproduces that geometry relative to
the image: the image is cut into ``grid x grid`` cells, the cell of pixel
``(i, j)`` being ``(floor(grid*i/H), floor(grid*j/W))``, the central
``keep x keep`` cells are shown unaltered and everything else is filled with
the image's mean colour and is the loss region. At 224 px the cells are
exactly the 32 px patches (masked fraction 40/49 = 0.816); at other sizes the
cells differ by at most one pixel.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> out = masking.build("grid_periphery")(torch.rand(2, 3, 224, 224), None)
    >>> round(out.weight.mean().item(), 3), round(40 / 49, 3)
    (0.816, 0.816)
"""
from __future__ import annotations

import torch

from focusmim.masking.base import Masker, MaskOutput, composite, mean_fill
from focusmim.config.schemas import MASKERS

register = MASKERS.register

__all__ = ["GridPeriphery", "grid_visible"]

_CACHE: dict = {}


def grid_visible(H: int, W: int, grid: int = 7, keep: int = 3, device="cpu") -> torch.Tensor:
    """bool (1,1,H,W): True on the central ``keep x keep`` cells of a ``grid x grid`` grid.

    Example:
        >>> grid_visible(14, 14, grid=7, keep=3)[0, 0, 7].int().tolist()
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    """
    key = (H, W, grid, keep, str(device))
    out = _CACHE.get(key)
    if out is None:
        lo = (grid - keep) // 2
        rows = torch.arange(H, device=device) * grid // H
        cols = torch.arange(W, device=device) * grid // W
        r = (rows >= lo) & (rows < lo + keep)
        c = (cols >= lo) & (cols < lo + keep)
        out = (r[:, None] & c[None, :]).view(1, 1, H, W)
        _CACHE[key] = out
    return out


@register("grid_periphery")
class GridPeriphery(Masker):
    """Show the central ``keep x keep`` of ``grid x grid`` cells, hide (mean colour) and
    predict the rest. ``grid - keep`` must be even so the visible block is centred.

    Example:
        >>> import torch
        >>> m = GridPeriphery(keep=1, grid=3)
        >>> out = m(torch.rand(1, 3, 30, 30), None)
        >>> int(out.visible.sum()), round(out.weight.mean().item(), 3)
        (100, 0.889)
    """

    name = "grid_periphery"

    def __init__(self, keep: int = 3, grid: int = 7):
        for nm, v in (("keep", keep), ("grid", grid)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{nm}={v!r} is not allowed; allowed: a whole number >= 1")
        if keep >= grid or (grid - keep) % 2:
            raise ValueError(f"keep={keep} with grid={grid} is not allowed; allowed: keep < grid with grid - keep "
                             f"even (a centred block, e.g. keep=3, grid=7)")
        super().__init__(keep=keep, grid=grid)
        self.keep, self.grid = keep, grid

    def _apply(self, x, generator, *, index, foreground):
        B, _, H, W = x.shape
        if H < self.grid or W < self.grid:
            raise ValueError(f"image size {H}x{W} is too small; allowed: at least {self.grid} px per side "
                             f"(grid={self.grid})")
        vis = grid_visible(H, W, self.grid, self.keep, x.device)
        hidden = (~vis).to(x.dtype)
        return MaskOutput(inputs=composite(x, hidden, mean_fill(x)), weight=hidden.expand(B, 1, H, W).contiguous(),
                          visible=vis.expand(B, 1, H, W).contiguous())
