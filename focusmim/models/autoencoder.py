"""The paper's residual convolutional autoencoder (FocusMIM).

Nine residual blocks down, nine up, no normalisation layers, PyTorch's default
initialisation. At width 1 and 96 px the latent is ``128 x 12 x 12`` (post-ReLU)
and the model has exactly 1,997,466 parameters (encoder 1,072,608, decoder
924,858). Those counts pin down the layer choices:

* every 3x3 convolution and every 1x1 skip has a bias;
* only the three blocks per side that change channels and resolution get a 1x1
  skip convolution; the other blocks add their input unchanged (the public
  reference code also builds a 1x1 conv in every identity block but never uses
  it: 86,912 dead parameters that are left out here);
* the decoder uses transposed convolutions throughout; upsampling blocks use a
  3x3 transposed conv with stride 2, padding 1, output_padding 1 (exactly 2x)
  and a 1x1 transposed skip with stride 2, output_padding 1 (also exactly 2x).

Every block ends in a ReLU except the very last one, whose output goes straight
into the sigmoid (a ReLU there would confine the output to [0.5, 1]).

Example:
    >>> import torch
    >>> from focusmim.models import build
    >>> model = build("autoencoder")
    >>> sum(p.numel() for p in model.parameters())
    1997466
    >>> recon, z = model(torch.rand(2, 3, 96, 96))
    >>> tuple(recon.shape), tuple(z.shape)
    ((2, 3, 96, 96), (2, 128, 12, 12))
    >>> model.latent_shape(32)
    (128, 4, 4)
"""
from __future__ import annotations

import torch
from torch import nn

from focusmim.models.common import size_pair
from focusmim.config.schemas import MODELS

register = MODELS.register

__all__ = ["PointwiseStrided", "PointwiseTransposed", "ResBlock", "ResidualAutoencoder", "scaled_channels", "autoencoder"]

# (in, out, stride) per block, in units of the base widths (C1=32, C2=64, C3=128)
_BASE = (32, 64, 128)


def scaled_channels(width: float) -> tuple[int, int, int]:
    """The three stage widths ``(32w, 64w, 128w)``, rounded, each at least 1.

    Example:
        >>> scaled_channels(0.5)
        (16, 32, 64)
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (0 < width <= 4):
        raise ValueError(f"width={width!r} is out of range; allowed: a number in (0, 4]")
    return tuple(max(1, int(round(c * width))) for c in _BASE)  # type: ignore[return-value]


class PointwiseTransposed(nn.ConvTranspose2d):
    """A 1x1 transposed convolution whose stride doubles the size exactly (stride 2,
    output_padding 1) or keeps it (stride 1), computed as a 1x1 convolution followed by
    zero insertion. Same parameters and ``state_dict`` as ``nn.ConvTranspose2d``, same
    output: oneDNN's own kernel for this layer crashes in the backward pass on
    ``channels_last`` tensors on some CPUs (measured on an AMD EPYC with torch 2.14.1: a
    segmentation fault), and that layout is what ``torch.compile`` picks on a CPU.

    Example:
        >>> import torch
        >>> up = PointwiseTransposed(4, 3, 1, stride=2, output_padding=1)
        >>> x = torch.rand(2, 4, 5, 5)
        >>> ref = torch.nn.functional.conv_transpose2d(x, up.weight, up.bias, stride=2, output_padding=1)
        >>> torch.allclose(up(x), ref, atol=1e-6)
        True
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, stride: int = 1, output_padding: int = 0):
        if kernel_size != 1 or stride not in (1, 2) or output_padding != stride - 1:
            raise ValueError(f"kernel_size={kernel_size!r}, stride={stride!r}, output_padding={output_padding!r} "
                             "are not allowed; allowed: kernel_size=1 with stride=1, output_padding=0 or "
                             "stride=2, output_padding=1")
        super().__init__(c_in, c_out, 1, stride=stride, output_padding=output_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        z = torch.nn.functional.conv2d(x, self.weight.transpose(0, 1))  # (B, out, H, W), no bias yet
        if self.stride[0] == 2:  # z on the even rows and columns, zeros between
            b, c, h, w = z.shape
            up = z.new_zeros(b, c, 2 * h, 2 * w)
            up[:, :, ::2, ::2] = z
            z = up
        return z + self.bias.to(z.dtype)[:, None, None]


class PointwiseStrided(nn.Conv2d):
    """A 1x1 convolution with stride 2 (or 1), computed as a stride-1 1x1 convolution of the
    even rows and columns. Same parameters, ``state_dict`` and output as ``nn.Conv2d``:
    oneDNN's backward pass of the strided version on a 3-channel ``channels_last`` input
    (the encoder's first skip) corrupts the heap on some CPUs (measured on an AMD EPYC with
    torch 2.14.1: glibc aborts, found by running each layer alone with ``MALLOC_CHECK_=3``).

    Example:
        >>> import torch
        >>> down = PointwiseStrided(3, 8, 1, stride=2)
        >>> x = torch.rand(2, 3, 6, 6)
        >>> torch.allclose(down(x), torch.nn.functional.conv2d(x, down.weight, down.bias, stride=2), atol=1e-6)
        True
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, stride: int = 1):
        if kernel_size != 1 or stride not in (1, 2):
            raise ValueError(f"kernel_size={kernel_size!r}, stride={stride!r} are not allowed; "
                             "allowed: kernel_size=1 with stride 1 or 2")
        super().__init__(c_in, c_out, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        s = self.stride[0]
        return torch.nn.functional.conv2d(x[:, :, ::s, ::s], self.weight, self.bias)


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus a skip, then (optionally) ReLU.

    The skip is the identity when channels and resolution are unchanged, else a
    1x1 convolution with the block's stride. ``transposed=True`` builds the
    decoder variant: transposed convolutions, where stride 2 doubles the size
    exactly.

    Example:
        >>> import torch
        >>> blk = ResBlock(32, 64, stride=2)
        >>> tuple(blk(torch.rand(1, 32, 16, 16)).shape)
        (1, 64, 8, 8)
        >>> up = ResBlock(64, 32, stride=2, transposed=True)
        >>> tuple(up(torch.rand(1, 64, 8, 8)).shape)
        (1, 32, 16, 16)
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int = 1, *, transposed: bool = False, final_relu: bool = True
    ):
        super().__init__()
        for name, v in (("c_in", c_in), ("c_out", c_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} is not allowed; allowed: a whole number >= 1")
        if stride not in (1, 2):
            raise ValueError(f"stride={stride!r} is not allowed; allowed: 1, 2")
        if transposed:
            op = 1 if stride == 2 else 0
            self.conv1 = nn.ConvTranspose2d(c_in, c_out, 3, stride=stride, padding=1, output_padding=op)
            self.conv2 = nn.ConvTranspose2d(c_out, c_out, 3, stride=1, padding=1)
            self.skip = (
                PointwiseTransposed(c_in, c_out, 1, stride=stride, output_padding=op)
                if (c_in != c_out or stride != 1)
                else None
            )
        else:
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1)
            self.skip = PointwiseStrided(c_in, c_out, 1, stride=stride) if (c_in != c_out or stride != 1) else None
        self.final_relu = bool(final_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(torch.relu(self.conv1(x)))
        h = h + (x if self.skip is None else self.skip(x))
        return torch.relu(h) if self.final_relu else h


class ResidualAutoencoder(nn.Module):
    """The FocusMIM autoencoder: ``recon, z = model(x)``.

    Args:
        width: channel multiplier; stages have ``(32, 64, 128) * width`` channels
            (rounded, at least 1). 1.0 is the paper's model.

    Input ``x``: float ``(B, 3, H, W)`` in ``[0, 1]`` with ``H, W`` multiples of 8.
    ``z``: ``(B, 128*width, H/8, W/8)``, non-negative. ``recon``: ``(B, 3, H, W)``
    in ``(0, 1)``. ``model.encoder`` is an ``nn.Sequential`` usable on its own.

    Example:
        >>> import torch
        >>> m = ResidualAutoencoder(width=0.25)
        >>> z = m.encode(torch.rand(1, 3, 32, 32))
        >>> tuple(z.shape), tuple(m.decode(z).shape)
        ((1, 32, 4, 4), (1, 3, 32, 32))
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = scaled_channels(width)
        self.width = float(width)
        self.channels = (c1, c2, c3)
        enc = [(3, c1, 2), (c1, c1, 1), (c1, c1, 1),
               (c1, c2, 2), (c2, c2, 1), (c2, c2, 1),
               (c2, c3, 2), (c3, c3, 1), (c3, c3, 1)]  # fmt: skip
        dec = [(c3, c3, 1), (c3, c3, 1), (c3, c2, 2),
               (c2, c2, 1), (c2, c2, 1), (c2, c1, 2),
               (c1, c1, 1), (c1, c1, 1), (c1, 3, 2)]  # fmt: skip
        self.encoder = nn.Sequential(*[ResBlock(i, o, s) for i, o, s in enc])
        self.decoder = nn.Sequential(
            *[
                ResBlock(i, o, s, transposed=True, final_relu=(k < len(dec) - 1))
                for k, (i, o, s) in enumerate(dec)
            ]
        )

    @property
    def latent_channels(self) -> int:
        return self.channels[2]

    def latent_shape(self, image_size: int | tuple[int, int]) -> tuple[int, int, int]:
        """``(C, H/8, W/8)`` of the latent for a square size or an ``(H, W)`` pair."""
        h, w = _size_pair(image_size)
        return (self.channels[2], h // 8, w // 8)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 8)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z


def _size_pair(image_size) -> tuple[int, int]:
    return size_pair(image_size, 8)


def _check_input(x: torch.Tensor, multiple: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x has shape {shape}; allowed: a float tensor (B, 3, H, W)")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(
            f"x has spatial size {tuple(x.shape[2:])}; allowed: H and W multiples of {multiple}"
        )


@register("autoencoder")
def autoencoder(width: float = 1.0) -> ResidualAutoencoder:
    """Factory for :class:`ResidualAutoencoder` (registry name ``autoencoder``)."""
    return ResidualAutoencoder(width=width)
