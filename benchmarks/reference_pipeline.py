"""A re-implementation of the public reference code's pretraining pipeline, for timing only.

Written by us, from the description in ``/work/shared/spec/reference.md`` (section
"Known defects of the public reference code"), so that ``bench_pretrain.py`` can put
focusmim's batched, on-device pipeline beside the way the reference feeds its model.
It is deliberately *not* optimised; it reproduces the reference's structure and costs:

* the dataset is a Python list of PIL images;
* a ``torch.utils.data.Dataset`` whose ``__getitem__`` does, for one sample at a time,
  ``RandomResizedCrop`` (torchvision transforms v2, on the PIL image), the conversion to a
  float tensor, and the mask on the CPU in numpy:

  - random patches: ``int(144 * ratio)`` of the 12 x 12 cells chosen with numpy, then a
    Python loop writing one cell after the other;
  - masked periphery: a numpy disc of radius ``int(sqrt(H*W*(1-ratio)/pi))`` around the centre;
  - foveal: a Perry-Geisler foveation computed per sample with scipy (a 6-level Gaussian
    pyramid, each level upsampled back to full size step by step, blend maps rebuilt for
    every call) with the spec's constants (alpha 2.5, 3.5 px per degree at 96 px, pyramid
    sigma 0.248, transfer ``exp(-0.5 (2^(i-3) R / sigma)^2)``, band edges normalised by the
    first one); the loss region is everything outside the fovea (``R < 1/2``);
  - blurry patches / periphery: the reference computes a 33 x 33 blur (sigma 100) and then
    overwrites it with the mean fill (its known defect); both costs are paid here as well;

  it returns the image, the masked input and a float mask the shape of the image, so every
  batch ships three float tensors from the workers;
* a ``DataLoader`` with worker processes (``num_workers=2`` by default), our fp32 autoencoder
  (``focusmim.models``), Adam, the loss ``sum((recon - x)^2 * m) / sum(m)``;
* optionally the per-step decorrelation diagnostic the reference's way: the full
  ``d x d`` covariance matrix of the batch latents (``d = 18,432`` at 96 px) on every step,
  divided by a hard-coded 511, the squared off-diagonal entries summed over the epoch.

The masks have the same geometry as focusmim's maskers (same 12 x 12 relative grid, same
disc convention, same fovea), so the work per image is comparable.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> m = random_patches_mask(96, 96, 0.6, rng)
    >>> m.shape, round(float(m.mean()), 3)
    ((96, 96), 0.597)
    >>> round(float(periphery_mask(96, 96, 0.8).mean()), 3)
    0.805
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "STRATEGIES",
    "GRID",
    "random_patches_mask",
    "periphery_mask",
    "foveate",
    "reference_sample",
    "ReferenceDataset",
    "reference_loss",
    "covariance_reference",
    "to_pil_list",
    "run_reference",
]

GRID = 12
STRATEGIES = ("none", "random_patches", "masked_periphery", "blurry_patches", "blurry_periphery", "foveal")
DEFAULT_RATIO = {"random_patches": 0.6, "blurry_patches": 0.6, "masked_periphery": 0.8, "blurry_periphery": 0.8}


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not allowed; allowed: {', '.join(map(repr, STRATEGIES))}")


def _check_size(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < GRID:
        raise ValueError(f"{name}={v!r} is not allowed; allowed: a whole number >= {GRID}")
    return v


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise ValueError(f"ratio={ratio!r} is out of range; allowed: a number strictly between 0 and 1")
    return float(ratio)


# ----------------------------------------------------------------------------- masks, per sample
def _cell_edges(n: int) -> list[int]:
    """Pixel edges of the 12 cells along a side of n pixels (cell of pixel i: floor(12 i / n))."""
    return [-(-k * n // GRID) for k in range(GRID + 1)]  # ceil(k n / 12)


def random_patches_mask(H: int, W: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """float32 (H, W): 1 on ``int(144 * ratio)`` cells of the 12 x 12 grid, written one by one.

    Example:
        >>> m = random_patches_mask(96, 96, 0.6, np.random.default_rng(1)); int(m.sum()) // 64
        86
    """
    H, W, ratio = _check_size("H", H), _check_size("W", W), _check_ratio(ratio)
    n_hidden = int(GRID * GRID * ratio)
    chosen = rng.choice(GRID * GRID, size=n_hidden, replace=False)
    ys, xs = _cell_edges(H), _cell_edges(W)
    mask = np.zeros((H, W), dtype=np.float32)
    for p in chosen:  # the reference's Python loop over the hidden patches
        r, c = divmod(int(p), GRID)
        mask[ys[r]:ys[r + 1], xs[c]:xs[c + 1]] = 1.0
    return mask


def periphery_mask(H: int, W: int, ratio: float) -> np.ndarray:
    """float32 (H, W): 1 outside the centred disc of radius ``int(sqrt(H*W*(1-ratio)/pi))``.

    Pixels sit at integer coordinates, the centre at ``(H/2, W/2)``, inside means ``dist <= r``.

    Example:
        >>> float(periphery_mask(96, 96, 0.8)[48, 48]), float(periphery_mask(96, 96, 0.8)[0, 0])
        (0.0, 1.0)
    """
    H, W, ratio = _check_size("H", H), _check_size("W", W), _check_ratio(ratio)
    r = int(math.sqrt(H * W * (1.0 - ratio) / math.pi))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    dist = np.sqrt((yy - H * 0.5) ** 2 + (xx - W * 0.5) ** 2)
    return (dist > r).astype(np.float32)


def _gauss2d(size: int, sigma: float) -> np.ndarray:
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of an (h0, w0, 3) image to (h, w, 3) with scipy."""
    h0, w0 = img.shape[:2]
    return ndimage.zoom(img, (h / h0, w / w0, 1), order=1, mode="nearest", grid_mode=True)


def foveate(
    img: np.ndarray,
    *,
    alpha: float = 2.5,
    pixels_per_degree: float = 3.5,
    levels: int = 6,
    sigma: float = 0.248,
) -> tuple[np.ndarray, np.ndarray]:
    """Perry-Geisler foveation of one (H, W, 3) float image about its centre, as the reference does it.

    Returns ``(foveated (H, W, 3) float32, loss mask (H, W) float32)``; the mask is 1 outside the
    fovea (``R < 1/2``, i.e. farther than ``alpha`` degrees from the fixation).
    ``pixels_per_degree`` is given at 96 px and scaled with the image side.

    Example:
        >>> out, m = foveate(np.random.default_rng(0).random((96, 96, 3), dtype=np.float32))
        >>> out.shape, round(float(m.mean()), 3)
        ((96, 96, 3), 0.974)
    """
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"img has shape {getattr(img, 'shape', type(img).__name__)}; allowed: (H, W, 3)")
    if not (isinstance(levels, int) and 2 <= levels <= 10):
        raise ValueError(f"levels={levels!r} is not allowed; allowed: an integer from 2 to 10")
    H, W, _ = img.shape
    kernel = _gauss2d(5, sigma)[:, :, None]
    # Gaussian pyramid: filter, halve; then bring every level back to full size step by step
    pyr = [img.astype(np.float32)]
    g = pyr[0]
    for _ in range(1, levels):
        g = ndimage.correlate(g, kernel, mode="mirror")
        g = _resize(g, max(1, g.shape[0] // 2), max(1, g.shape[1] // 2))
        pyr.append(g)
    for i in range(1, levels):
        cur = pyr[i]
        for j in range(i):
            size = (H, W) if j == i - 1 else (cur.shape[0] * 2, cur.shape[1] * 2)
            cur = _resize(cur, *size)
            cur = ndimage.correlate(cur, kernel, mode="mirror")
        pyr[i] = cur
    # resolution map and blend weights, rebuilt for every sample
    p = pixels_per_degree * math.sqrt(H * W) / 96.0
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    theta = np.sqrt((yy - H * 0.5) ** 2 + (xx - W * 0.5) ** 2) / p
    R = alpha / (theta + alpha)
    Ts = [np.exp(-0.5 * ((2.0 ** (i - 3)) * R / sigma) ** 2) for i in range(1, levels)]
    Ts.append(np.zeros_like(R))
    omega = np.array([math.sqrt(2 * math.log(2)) / (2.0 ** (i - 3)) * sigma for i in range(1, levels)] + [0.0])
    omega = omega / omega[0]  # band edges normalised by the first one: 1, 1/2, 1/4, ...
    layer = np.zeros_like(R, dtype=np.int64)
    for i in range(1, levels):
        layer[(R >= omega[i]) & (R <= omega[i - 1])] = i
    Bs = [(0.5 - Ts[i]) / (Ts[i - 1] - Ts[i] + 1e-5) for i in range(1, levels)]
    Ms = np.zeros((levels, H, W), dtype=np.float32)
    for i in range(levels):
        ind = layer == i
        if ind.any():
            Ms[i][ind] = 1.0 if i == 0 else 1.0 - Bs[i - 1][ind]
        ind = layer - 1 == i
        if ind.any():
            Ms[i][ind] = Bs[i][ind]
    out = np.zeros((H, W, 3), dtype=np.float32)
    for M, A in zip(Ms, pyr):
        for c in range(3):
            out[:, :, c] += M * A[:, :, c]
    mask = (R < omega[1]).astype(np.float32)
    return np.clip(out, 0.0, 1.0), mask


def _reference_blur(arr_chw: np.ndarray) -> np.ndarray:
    """The reference's blur: a 33 x 33 Gaussian of sigma 100 (almost a box filter)."""
    t = np.arange(33, dtype=np.float64) - 16
    k = np.exp(-0.5 * (t / 100.0) ** 2)
    k = k / k.sum()  # applied separably (cheaper than the reference's 2-D kernel: conservative)
    y = ndimage.correlate1d(arr_chw, k, axis=1, mode="reflect")
    return ndimage.correlate1d(y, k, axis=2, mode="reflect")


def reference_sample(x: torch.Tensor, strategy: str, ratio: float | None, rng: np.random.Generator):
    """Mask one float image (3, H, W) the reference's way: ``(masked (3,H,W), mask (3,H,W))`` float32.

    Example:
        >>> x = torch.rand(3, 32, 32)
        >>> xm, m = reference_sample(x, "masked_periphery", 0.8, np.random.default_rng(0))
        >>> tuple(xm.shape), tuple(m.shape), bool(m[0].eq(m[2]).all())
        ((3, 32, 32), (3, 32, 32), True)
    """
    _check_strategy(strategy)
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"x has shape {getattr(x, 'shape', None)}; allowed: a float tensor (3, H, W)")
    arr = x.numpy()
    _, H, W = arr.shape
    if strategy == "none":
        return x.clone(), torch.ones_like(x)
    if strategy == "foveal":
        fov, mask = foveate(np.ascontiguousarray(arr.transpose(1, 2, 0)))
        masked = fov.transpose(2, 0, 1)
    else:
        ratio = DEFAULT_RATIO[strategy] if ratio is None else _check_ratio(ratio)
        if strategy in ("random_patches", "blurry_patches"):
            mask = random_patches_mask(H, W, ratio, rng)
        else:
            mask = periphery_mask(H, W, ratio)
        if strategy.startswith("blurry"):
            fill = _reference_blur(arr)  # computed ...
        fill = arr.mean(axis=(1, 2), keepdims=True)  # ... and overwritten by the mean fill (the defect)
        masked = arr * (1.0 - mask) + fill * mask
    mask3 = np.repeat(mask[None], 3, axis=0)
    return torch.from_numpy(np.ascontiguousarray(masked, dtype=np.float32)), torch.from_numpy(mask3)


class ReferenceDataset(torch.utils.data.Dataset):
    """Per-sample crop, tensor conversion and mask, as in the reference's ``__getitem__``.

    Args:
        images: a list of PIL images (the reference holds the whole dataset this way).
        strategy: one of :data:`STRATEGIES`.
        image_size: output side of the crop.
        ratio: masking ratio (None: the paper's default for the strategy).
        crop: RandomResizedCrop(scale 0.08-1) when True, else the image as is.

    Example:
        >>> import torch
        >>> pil = to_pil_list(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
        >>> x, xm, m = ReferenceDataset(pil, "random_patches", 32)[0]
        >>> tuple(x.shape), tuple(xm.shape), tuple(m.shape)
        ((3, 32, 32), (3, 32, 32), (3, 32, 32))
    """

    def __init__(self, images: list, strategy: str, image_size: int, ratio: float | None = None, crop: bool = True):
        from torchvision.transforms import InterpolationMode, v2

        _check_strategy(strategy)
        if not isinstance(images, list) or not images:
            raise ValueError("images must be a non-empty list of PIL images; allowed: to_pil_list(uint8 tensor)")
        self.images = images
        self.strategy = strategy
        self.ratio = None if ratio is None else _check_ratio(ratio)
        self.image_size = _check_size("image_size", image_size)
        crop_t = (
            [v2.RandomResizedCrop(image_size, scale=(0.08, 1.0), interpolation=InterpolationMode.BILINEAR,
                                  antialias=True)]
            if crop else []
        )
        self.transform = v2.Compose(crop_t + [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
        self._rng = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if self._rng is None:  # one numpy stream per worker process
            self._rng = np.random.default_rng(torch.initial_seed() % 2**32)
        x = self.transform(self.images[i]).as_subclass(torch.Tensor).contiguous()
        xm, m = reference_sample(x, self.strategy, self.ratio, self._rng)
        return x, xm, m


def to_pil_list(images: torch.Tensor) -> list:
    """uint8 (N, 3, H, W) -> a Python list of PIL RGB images."""
    from PIL import Image

    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor (N, 3, H, W); allowed: focusmim ImageSet.images")
    arr = images.permute(0, 2, 3, 1).contiguous().numpy()
    return [Image.fromarray(a) for a in arr]


def reference_loss(recon: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum((recon - x)^2 * m) / sum(m)`` with a mask the shape of the image."""
    if recon.shape != x.shape or mask.shape != x.shape:
        raise ValueError(f"shapes {tuple(recon.shape)}, {tuple(x.shape)}, {tuple(mask.shape)}; allowed: all equal")
    return ((recon - x) ** 2 * mask).sum() / mask.sum()


@torch.no_grad()
def covariance_reference(z: torch.Tensor, denominator: int = 511) -> torch.Tensor:
    """The reference's decorrelation diagnostic on one batch: a full d x d covariance matrix.

    Latents are z-scored across the batch, ``C = Z^T Z / 511`` (hard-coded batch size - 1),
    the result is the sum of squared off-diagonal entries divided by ``d``.

    Example:
        >>> z = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
        >>> bool(covariance_reference(z, 63) > 0)
        True
    """
    z = z.reshape(z.shape[0], -1).float()
    n, d = z.shape
    z = (z - z.mean(0)) / torch.sqrt(z.var(0) + 1e-4)
    cov = (z.T @ z) / denominator
    off = cov.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
    return off.pow(2).sum() / d


def run_reference(
    images: torch.Tensor,
    strategy: str,
    *,
    batch_size: int,
    steps: int,
    warmup: int = 2,
    covariance: bool = False,
    num_workers: int = 2,
    device: str = "cpu",
    lr: float | None = None,
    crop: bool = True,
    seed: int = 0,
) -> dict:
    """Time ``steps`` training steps (after ``warmup`` untimed ones) of the reference pipeline.

    ``images``: uint8 (N, 3, H, W) with ``N >= (warmup + steps) * batch_size`` (the list of PIL
    images is built from it, outside the timing). Returns images/s, seconds per step, the mean
    loss and (with ``covariance``) the summed diagnostic.
    """
    from focusmim import models
    from focusmim.config import PAPER_LR, DEFAULT_LR

    _check_strategy(strategy)
    for name, v, low in (("batch_size", batch_size, 1), ("steps", steps, 1), ("warmup", warmup, 1),
                         ("num_workers", num_workers, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: a whole number >= {low}")
    need = (warmup + steps) * batch_size
    if len(images) < need:
        raise ValueError(f"images has {len(images)} images; allowed: at least (warmup + steps) * batch_size = {need}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    ds = ReferenceDataset(to_pil_list(images[:need].cpu()), strategy, images.shape[-1], crop=crop)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                         drop_last=True, pin_memory=dev.type == "cuda")
    model = models.build("autoencoder").to(dev)
    lr = PAPER_LR.get(strategy, DEFAULT_LR) if lr is None else lr
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-8)
    model.train()
    losses, cov_total, t0 = [], 0.0, None
    for step, (x, xm, m) in enumerate(loader):
        if step == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x, xm, m = x.to(dev, non_blocking=True), xm.to(dev, non_blocking=True), m.to(dev, non_blocking=True)
        recon, z = model(xm)
        loss = reference_loss(recon, x, m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if covariance:
            cov_total += float(covariance_reference(z.detach()))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {
        "images_per_s": steps * batch_size / dt,
        "seconds_per_step": dt / steps,
        "steps": steps,
        "batch_size": batch_size,
        "loss": float(np.mean(losses[warmup:])),
        "covariance_sum": cov_total if covariance else None,
    }
