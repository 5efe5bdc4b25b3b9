"""ConvNeXt-V2 pico encoder with a shallow FCMAE-style decoder.

The encoder is timm's ``convnextv2_pico`` (random init, no classifier head); its
last stage map is the latent ``z``. The decoder follows FCMAE: a 1x1 projection
to ``decoder_dim`` channels, ONE ConvNeXt-V2 block (timm's ``ConvNeXtBlock``
with GRN), then a 1x1 convolution predicting ``patch**2 * 3`` values per grid
position, which a pixel shuffle rearranges into the full-resolution image,
followed by a sigmoid. Masking happens in pixel space (dense, like every other
model here), so no sparse convolutions or mask tokens are needed.

Resolution and the patch grid. ConvNeXt downsamples by ``8 * stem_stride``
(stem 4 -> 32): at 224 px the final map is 7x7, at 96 px 3x3, at 32 px 1x1.
Two options control this:

* ``stem_stride`` (1, 2 or 4; default 4 = stock ConvNeXt): the stem's patchify
  convolution uses this kernel and stride. A smaller stem keeps more positions
  for small images (32 px with stem 1 -> 4x4 grid).
* ``grid`` (``None`` or an int; default ``None``): when set, inputs are
  resized bilinearly to ``grid * 8 * stem_stride`` pixels so the final map is
  ``grid x grid``, and the reconstruction is resized back to the input size.
  ``grid=7`` with ``stem_stride=4`` is the paper's 7x7 patch grid (inputs
  upsampled to 224 px). ``grid=7, stem_stride=1`` gives the same 7x7 grid
  from a 56 px input; note the four stages then run on the same map sizes as
  at 224 px, so the encoder costs about the same (~2.8 GFLOP per image); only
  the stem and the decoder's output get cheaper.

Choice: defaults are native resolution (``grid=None``, ``stem_stride=4``), the
cheapest and exactly timm's network; pick ``grid=7`` for the paper's grid on a
GPU. ``width`` scales every channel count (encoder dims ``(64, 128, 256, 512)
* width``, ``decoder_dim * width``) so that a 32 px smoke run at width 0.5 takes
seconds on a CPU.

Example:
    >>> import torch
    >>> from focusmim.models import build
    >>> m = build("convnext_fcmae", width=0.25)
    >>> recon, z = m(torch.rand(2, 3, 64, 64))
    >>> tuple(recon.shape), tuple(z.shape)
    ((2, 3, 64, 64), (2, 128, 2, 2))
    >>> build("convnext_fcmae", width=0.25, grid=7, stem_stride=1).latent_shape(96)
    (128, 7, 7)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from focusmim.models.common import size_pair
from focusmim.config.schemas import MODELS

register = MODELS.register

__all__ = ["ConvNeXtFCMAE", "convnext_fcmae"]

_PICO_DIMS = (64, 128, 256, 512)


class _ConvNeXtEncoder(nn.Module):
    """timm ConvNeXt trunk (optionally behind a resize): ``x -> last stage map``."""

    def __init__(self, dims: tuple[int, ...], stem_stride: int, input_size: int | None):
        super().__init__()
        import timm

        self.trunk = timm.create_model("convnextv2_pico", pretrained=False, num_classes=0, dims=dims)
        if stem_stride != 4:
            old = self.trunk.stem[0]
            self.trunk.stem[0] = nn.Conv2d(old.in_channels, old.out_channels, stem_stride, stride=stem_stride)
        self.input_size = input_size
        self.stride = 8 * stem_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        elif x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ValueError(
                f"x has spatial size {tuple(x.shape[-2:])}; allowed: multiples of {self.stride} "
                f"(8 * stem_stride), or build the model with grid=N to resize inputs"
            )
        return self.trunk.forward_features(x)


def _block(dim: int) -> nn.Module:
    """timm's ConvNeXt-V2 block (GRN, no layer scale), timm being pinned in requirements.txt."""
    from timm.models.convnext import ConvNeXtBlock

    return ConvNeXtBlock(dim, use_grn=True, ls_init_value=None, conv_mlp=True)


class ConvNeXtFCMAE(nn.Module):
    """ConvNeXt-V2 pico + one-block decoder: ``recon, z = model(x)``.

    Args:
        width: channel multiplier for encoder and decoder, in (0, 4].
        stem_stride: 1, 2 or 4 (the stem's patchify kernel and stride).
        grid: ``None`` (native resolution) or the final map side (inputs are
            resized to ``grid * 8 * stem_stride`` and the output back).
        decoder_dim: channels of the decoder block at width 1 (FCMAE: 512).
        image_size: default output side of :meth:`decode` when ``grid`` is set
            (``forward`` always returns the input's size).

    Example:
        >>> import torch
        >>> m = ConvNeXtFCMAE(width=0.25, stem_stride=2)
        >>> tuple(m.encode(torch.rand(1, 3, 32, 32)).shape)
        (1, 128, 2, 2)
    """

    def __init__(
        self,
        width: float = 1.0,
        stem_stride: int = 4,
        grid: int | None = None,
        decoder_dim: int = 512,
        image_size: int | None = None,
    ):
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not (0 < width <= 4):
            raise ValueError(f"width={width!r} is out of range; allowed: a number in (0, 4]")
        if stem_stride not in (1, 2, 4) or isinstance(stem_stride, bool):
            raise ValueError(f"stem_stride={stem_stride!r} is not allowed; allowed: 1, 2, 4")
        if grid is not None and (isinstance(grid, bool) or not isinstance(grid, int) or grid < 1):
            raise ValueError(f"grid={grid!r} is not allowed; allowed: None or a whole number >= 1")
        if isinstance(decoder_dim, bool) or not isinstance(decoder_dim, int) or decoder_dim < 1:
            raise ValueError(f"decoder_dim={decoder_dim!r} is not allowed; allowed: a whole number >= 1")
        if image_size is not None and (
            isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
        ):
            raise ValueError(f"image_size={image_size!r} is not allowed; allowed: None or a whole number >= 1")
        dims = tuple(max(1, int(round(d * width))) for d in _PICO_DIMS)
        dec_dim = max(1, int(round(decoder_dim * width)))
        self.width, self.stem_stride, self.grid, self.image_size = float(width), stem_stride, grid, image_size
        self.patch = 8 * stem_stride
        self.dims = dims
        input_size = None if grid is None else grid * self.patch
        self.encoder = _ConvNeXtEncoder(dims, stem_stride, input_size)
        self.proj = nn.Conv2d(dims[-1], dec_dim, 1)
        self.block = _block(dec_dim)
        self.pred = nn.Conv2d(dec_dim, self.patch**2 * 3, 1)
        for m in (self.proj, self.pred, *self.block.modules()):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def latent_channels(self) -> int:
        return self.dims[-1]

    def latent_shape(self, image_size: int | tuple[int, int]) -> tuple[int, int, int]:
        """``(C, h, w)`` of ``z`` for a square side or an ``(H, W)`` pair."""
        h, w = size_pair(image_size)
        if self.grid is not None:
            return (self.dims[-1], self.grid, self.grid)
        if h % self.patch or w % self.patch or h < 1 or w < 1:
            raise ValueError(
                f"image_size={image_size!r} is not allowed; allowed: multiples of {self.patch} (8 * stem_stride)"
            )
        return (self.dims[-1], h // self.patch, w // self.patch)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x has shape {shape}; allowed: a float tensor (B, 3, H, W)")
        return self.encoder(x)

    def decode(self, z: torch.Tensor, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Pixels in (0, 1). ``output_size`` defaults to the grid's native size
        (``z`` side * patch), or ``image_size`` when the model was built with one."""
        y = self.pred(self.block(self.proj(z)))
        y = F.pixel_shuffle(y, self.patch)
        if output_size is None and self.image_size is not None:
            output_size = (self.image_size, self.image_size)
        if output_size is not None and tuple(y.shape[-2:]) != tuple(output_size):
            y = F.interpolate(y, size=tuple(output_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(y)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z, output_size=tuple(x.shape[-2:])), z


@register("convnext_fcmae")
def convnext_fcmae(
    width: float = 1.0,
    stem_stride: int = 4,
    grid: int | None = None,
    decoder_dim: int = 512,
    image_size: int | None = None,
) -> ConvNeXtFCMAE:
    """Factory for :class:`ConvNeXtFCMAE` (registry name ``convnext_fcmae``)."""
    return ConvNeXtFCMAE(
        width=width, stem_stride=stem_stride, grid=grid, decoder_dim=decoder_dim, image_size=image_size
    )
