"""Foreground confidence maps from rembg's u2netp, the paper's image filter, and IoU.

The paper weights the reconstruction loss by how confident a salient-object
detector is that a pixel belongs to the object, and drops the images in which
the detector finds (almost) nothing. This module computes those maps once per
dataset with rembg's small ``u2netp`` network, caches them as a uint8 tensor
(resumable: chunks are written as they are finished), and applies the filter.

Pre- and post-processing follow rembg 2.x's ``U2netpSession.predict`` exactly
(Lanczos resize to 320x320, divide by the image's maximum, ImageNet mean/std,
per-image min-max rescaling of the first output, truncation to uint8, Lanczos
resize back), so a map from :func:`foreground_maps` equals the mask rembg
itself returns for the same image, bit for bit. The ONNX graph has a fixed
batch size of 1, so inference runs image by image inside each chunk; onnxruntime
spreads each image over ``workers`` intra-op threads (or runs on the GPU when
onnxruntime's ``CUDAExecutionProvider`` is available).

Example (a stand-in predictor instead of u2netp, so it runs anywhere):

    >>> import torch
    >>> from focusmim.segment import foreground_maps, keep_mask, filter_report
    >>> images = torch.zeros(3, 3, 96, 96, dtype=torch.uint8)
    >>> images[0, :, 40:60, 40:60] = 255          # one image with a bright square
    >>> fake = lambda x: (x[:, :1] > 128).to(torch.uint8) * 255
    >>> fg = foreground_maps(images, predict=fake, progress=False)
    >>> fg.shape, fg.dtype
    (torch.Size([3, 1, 96, 96]), torch.uint8)
    >>> keep_mask(fg).tolist()                    # 400 confident pixels > 100
    [True, False, False]
    >>> filter_report(fg)["dropped"]
    2

Weights: ``u2netp.onnx`` (md5 ``8e83ca70e441ab06c318d82300c84806``) is looked up
in ``$U2NET_HOME``. When that variable is unset it defaults to the ``shared/models``
folder beside the repository if that exists, else to ``~/.u2net``. Nothing is
ever downloaded: a missing file raises :class:`FileNotFoundError` first.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

__all__ = [
    "MODEL_NAME",
    "WEIGHTS_MD5",
    "PAPER_MIN_PIXELS",
    "PAPER_SIZE",
    "weights_path",
    "session",
    "U2netpPredictor",
    "foreground_maps",
    "keep_mask",
    "filter_report",
    "min_pixels_for",
    "iou",
    "IoUResult",
    "attach_foreground",
    "split_with_maps",
    "foreground_cache_path",
]

log = logging.getLogger(__name__)

MODEL_NAME = "u2netp"
WEIGHTS_FILE = "u2netp.onnx"
WEIGHTS_MD5 = "8e83ca70e441ab06c318d82300c84806"
MODEL_SIZE = 320  # u2netp's fixed input resolution
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# The paper's filter: drop an image with at most 100 pixels at confidence >= 0.8,
# stated for 96x96 STL-10 images.
PAPER_MIN_PIXELS = 100
PAPER_SIZE = 96
CACHE_VERSION = 1


# --------------------------------------------------------------------- weights
def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    shared = _repo_root().parent / "shared" / "models"
    if shared.is_dir():
        return shared
    return Path("~/.u2net").expanduser()


def weights_path() -> Path:
    """Path of ``u2netp.onnx``; sets ``$U2NET_HOME`` to its default when unset.

    rembg looks in ``$U2NET_HOME/u2netp.onnx`` and ``$U2NET_HOME/models/u2netp/u2netp.onnx``;
    so does this function, and it raises :class:`FileNotFoundError` (before rembg
    could try to download anything) when neither exists, and :class:`ValueError`
    when the file's md5 is not u2netp's.

    Example:
        >>> from focusmim.segment import weights_path
        >>> weights_path().name   # doctest: +SKIP
        'u2netp.onnx'
    """
    if not os.environ.get("U2NET_HOME"):
        os.environ["U2NET_HOME"] = str(_default_home())
    home = Path(os.environ["U2NET_HOME"]).expanduser()
    candidates = [home / WEIGHTS_FILE, home / "models" / MODEL_NAME / WEIGHTS_FILE]
    for path in candidates:
        if path.is_file():
            st = path.stat()
            _check_md5(str(path), st.st_size, st.st_mtime_ns)
            return path
    raise FileNotFoundError(
        f"rembg's u2netp weights were not found: looked for {candidates[0]} and {candidates[1]} "
        f"(U2NET_HOME={os.environ['U2NET_HOME']!r}). Put {WEIGHTS_FILE} (md5 {WEIGHTS_MD5}, from "
        f"https://github.com/danielgatis/rembg/releases/download/v0.0.0/{WEIGHTS_FILE}) in a folder and "
        f"point U2NET_HOME at it, e.g. `export U2NET_HOME=/path/to/models`. Nothing is downloaded "
        f"automatically."
    )


@functools.lru_cache(maxsize=8)
def _check_md5(path: str, size: int, mtime_ns: int) -> None:
    digest = hashlib.md5(Path(path).read_bytes()).hexdigest()
    if digest != WEIGHTS_MD5:
        raise ValueError(
            f"{path} has md5 {digest}, but u2netp's weights have md5 {WEIGHTS_MD5}; replace the file "
            f"or point U2NET_HOME at a folder holding the right {WEIGHTS_FILE}"
        )


def _check_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed; allowed: None (all cores) or a whole number >= 1")
    return workers


def session(workers: int | None = None):
    """The cached rembg ``u2netp`` session (``rembg.new_session("u2netp")``).

    ``workers`` sets onnxruntime's intra-op threads (``None``: onnxruntime's
    default, all cores). The CUDA execution provider is used when onnxruntime
    offers it. One session is kept per (weights file, workers).

    Example:
        >>> from focusmim.segment import session
        >>> s = session(workers=2)                  # doctest: +SKIP
        >>> s.inner_session.get_inputs()[0].shape  # doctest: +SKIP
        [1, 3, 320, 320]
    """
    workers = _check_workers(workers)
    path = weights_path()  # raises before rembg could reach for the network
    return _session(str(path), workers)


@functools.lru_cache(maxsize=4)
def _session(path: str, workers: int | None):
    import onnxruntime as ort
    import rembg

    opts = ort.SessionOptions()
    if workers is not None:
        opts.intra_op_num_threads = workers
        opts.inter_op_num_threads = 1
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return rembg.new_session(MODEL_NAME, sess_opts=opts, providers=providers)


# ------------------------------------------------------------------- predictor
class U2netpPredictor:
    """uint8 images ``(B,3,H,W)`` -> uint8 maps ``(B,1,H,W)``, exactly as rembg's u2netp.

    Resizing uses PIL's Lanczos filter image by image (as rembg does, so results
    match bit for bit); the normalisation and min-max rescaling are batched.

    Example:
        >>> from focusmim.segment import U2netpPredictor, session
        >>> predict = U2netpPredictor(session())           # doctest: +SKIP
        >>> predict(images_uint8).shape                    # doctest: +SKIP
        torch.Size([4, 1, 96, 96])
    """

    def __init__(self, sess):
        self.session = sess
        self.inner = sess.inner_session
        self.input_name = self.inner.get_inputs()[0].name

    def preprocess(self, images: torch.Tensor) -> np.ndarray:
        """float32 ``(B,3,320,320)``: rembg's ``BaseSession.normalize``, batched."""
        from PIL import Image

        hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
        size = (MODEL_SIZE, MODEL_SIZE)
        big = np.stack([np.asarray(Image.fromarray(im, "RGB").resize(size, Image.Resampling.LANCZOS)) for im in hwc])
        peak = np.maximum(big.reshape(len(big), -1).max(axis=1), 1e-6).astype(np.float64)
        x = big / peak[:, None, None, None]  # float64, as in rembg
        x = (x - np.asarray(MEAN)) / np.asarray(STD)
        return x.transpose(0, 3, 1, 2).astype(np.float32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(B,320,320)``: the first output's channel 0 (the graph takes batch 1)."""
        outs = [self.inner.run(None, {self.input_name: x[i : i + 1]})[0][:, 0] for i in range(len(x))]
        return np.concatenate(outs, axis=0)

    @staticmethod
    def postprocess(pred: np.ndarray, height: int, width: int) -> torch.Tensor:
        """Min-max per image, truncate to uint8, Lanczos back to ``(height, width)``."""
        from PIL import Image

        flat = pred.reshape(len(pred), -1)
        hi = flat.max(axis=1)[:, None, None]
        lo = flat.min(axis=1)[:, None, None]
        span = hi - lo
        safe = np.where(span > 0, span, np.float32(1))  # rembg would divide by zero; a flat map -> 0
        scaled = np.where(span > 0, (pred - lo) / safe, np.float32(0)).astype(np.float32)
        small = (scaled * 255).astype(np.uint8)
        if (height, width) == small.shape[1:]:
            out = small
        else:
            out = np.stack(
                [np.asarray(Image.fromarray(m, "L").resize((width, height), Image.Resampling.LANCZOS)) for m in small]
            )
        return torch.from_numpy(np.ascontiguousarray(out)).unsqueeze(1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        h, w = images.shape[-2:]
        return self.postprocess(self.infer(self.preprocess(images.cpu())), h, w)


# --------------------------------------------------------------------- helpers
def _check_images(images: Any, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        desc = (
            f"a {images.dtype} tensor of shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(f"{name} is {desc}; allowed: a uint8 tensor of shape (N,3,H,W)")


def _check_maps(fg: Any, name: str) -> None:
    if not isinstance(fg, torch.Tensor) or fg.ndim != 4 or fg.shape[1] != 1:
        desc = f"shape {tuple(fg.shape)}" if isinstance(fg, torch.Tensor) else type(fg).__name__
        raise ValueError(f"{name} has {desc}; allowed: a tensor of shape (N,1,H,W), uint8 0..255 or float 0..1")
    if fg.dtype != torch.uint8 and not fg.is_floating_point():
        raise ValueError(f"{name} has dtype {fg.dtype}; allowed: uint8 (0..255) or a float dtype (0..1)")


def _check_fraction(name: str, value: Any, *, closed_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (0 <= value <= 1 if closed_low else 0 < value <= 1)
    if not ok:
        allowed = "a number in [0, 1]" if closed_low else "a number in (0, 1]"
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {allowed}")
    return float(value)


def _fingerprint(images: torch.Tensor) -> str:
    """Hash of the image bytes and shape: the cache is valid for exactly these images."""
    arr = images.detach().cpu().contiguous().numpy().reshape(-1)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(images.shape)).encode())
    h.update(memoryview(arr))
    return h.hexdigest()


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if isinstance(obj, (dict, list)) and path.suffix == ".json":
            Path(tmp).write_text(json.dumps(obj, sort_keys=True))
        else:
            torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _runs(todo: np.ndarray, batch_size: int) -> list[tuple[int, int]]:
    """Row ranges [start, end) covering the True entries of ``todo``, at most batch_size long."""
    idx = np.flatnonzero(todo)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    out = []
    for seg in np.split(idx, breaks):
        s, e = int(seg[0]), int(seg[-1]) + 1
        out += [(a, min(a + batch_size, e)) for a in range(s, e, batch_size)]
    return out


# ---------------------------------------------------------------- computation
def foreground_maps(
    images: torch.Tensor,
    *,
    batch_size: int = 256,
    progress: bool = True,
    cache_path: str | os.PathLike | None = None,
    workers: int | None = None,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Soft foreground maps, uint8 ``(N,1,H,W)`` (255 = certainly object), of unaugmented images.

    Args:
        images: uint8 ``(N,3,H,W)``.
        batch_size: images per chunk; a chunk is pre/post-processed together and, with
            ``cache_path``, written to disk as soon as it is done.
        progress: show a tqdm bar.
        cache_path: file for the finished maps (``None``: no caching). While computing,
            chunks go to ``<cache_path>.parts/`` (atomic writes), so an interrupted run
            resumes where it stopped. A cache made from other images is recomputed.
        workers: onnxruntime intra-op threads (``None``: all cores).
        predict: maps uint8 ``(B,3,H,W)`` -> uint8 ``(B,1,H,W)``; default rembg's u2netp
            (:class:`U2netpPredictor`). Only built when something is left to compute.

    Example:
        >>> import torch
        >>> from focusmim.segment import foreground_maps
        >>> x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
        >>> fg = foreground_maps(x, batch_size=2, progress=False, predict=lambda b: b[:, :1].clone())
        >>> bool((fg == x[:, :1]).all())
        True
    """
    _check_images(images)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed; allowed: a whole number >= 1")
    _check_workers(workers)
    if predict is not None and not callable(predict):
        raise ValueError(f"predict={predict!r} is not allowed; allowed: None or a callable")
    images = images.detach().cpu()
    n, _, h, w = images.shape
    out = torch.zeros((n, 1, h, w), dtype=torch.uint8)
    done = np.zeros(n, dtype=bool)

    path = parts = None
    fp = None
    if cache_path is not None:
        path = Path(cache_path)
        parts = path.with_name(path.name + ".parts")
        fp = _fingerprint(images)
        if path.is_file():
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
                if obj.get("fingerprint") == fp and tuple(obj["foreground"].shape) == (n, 1, h, w):
                    return obj["foreground"]
                log.warning("foreground cache %s was made from other images; recomputing", path)
            except Exception as err:  # unreadable cache: recompute
                log.warning("foreground cache %s is unreadable (%s); recomputing", path, err)
        meta = {"fingerprint": fp, "shape": [n, 1, h, w], "model": MODEL_NAME, "version": CACHE_VERSION}
        meta_file = parts / "meta.json"
        if parts.is_dir():
            try:
                old = json.loads(meta_file.read_text())
            except Exception:
                old = None
            if old != meta:
                shutil.rmtree(parts)
        if not parts.is_dir():
            parts.mkdir(parents=True)
            _atomic_save(meta, meta_file)
        for f in sorted(parts.glob("rows_*.pt")):
            try:
                s, e = (int(v) for v in f.stem.split("_")[1:3])
                chunk = torch.load(f, map_location="cpu", weights_only=True)
            except Exception:
                continue
            if 0 <= s < e <= n and tuple(chunk.shape) == (e - s, 1, h, w) and chunk.dtype == torch.uint8:
                out[s:e] = chunk
                done[s:e] = True

    jobs = _runs(~done, batch_size)
    if jobs:
        if predict is None:
            predict = U2netpPredictor(session(workers))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=int(done.sum()), desc="rembg u2netp", unit="img")
        try:
            for s, e in jobs:
                chunk = predict(images[s:e])
                if not isinstance(chunk, torch.Tensor) or tuple(chunk.shape) != (e - s, 1, h, w):
                    got = tuple(chunk.shape) if isinstance(chunk, torch.Tensor) else type(chunk).__name__
                    raise ValueError(f"predict returned {got}; expected a uint8 tensor of shape {(e - s, 1, h, w)}")
                chunk = chunk.to(device="cpu", dtype=torch.uint8).contiguous()
                out[s:e] = chunk
                if parts is not None:
                    _atomic_save(chunk.clone(), parts / f"rows_{s:09d}_{e:09d}.pt")
                if bar is not None:
                    bar.update(e - s)
        finally:
            if bar is not None:
                bar.close()

    if path is not None:
        _atomic_save({"foreground": out, "fingerprint": fp, "model": MODEL_NAME, "version": CACHE_VERSION}, path)
        shutil.rmtree(parts, ignore_errors=True)
    return out


# --------------------------------------------------------------------- filter
def min_pixels_for(height: int, width: int) -> float:
    """The paper's 100-pixel floor (for 96x96) scaled by area: ``100 * H * W / 96**2``.

    Example:
        >>> from focusmim.segment import min_pixels_for
        >>> min_pixels_for(96, 96), round(min_pixels_for(32, 32), 2)
        (100.0, 11.11)
    """
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: a whole number >= 1")
    return PAPER_MIN_PIXELS * height * width / PAPER_SIZE**2


def _uint8_level(threshold: float) -> int:
    # v/255 >= threshold  <=>  v >= ceil(255 * threshold); rounding first keeps
    # 0.8 * 255 = 204.00000000000003 from becoming 205.
    return int(math.ceil(round(255 * threshold, 6)))


def _confident_counts(fg: torch.Tensor, threshold: float) -> torch.Tensor:
    if fg.dtype == torch.uint8:
        confident = fg >= _uint8_level(threshold)
    else:
        confident = fg >= threshold
    return confident.flatten(1).sum(1)


def _resolve_min_pixels(min_pixels: Any, h: int, w: int) -> float:
    if min_pixels is None:
        return min_pixels_for(h, w)
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, float)) or min_pixels < 0:
        raise ValueError(
            f"min_pixels={min_pixels!r} is not allowed; allowed: None (100 scaled to the image area) or a number >= 0"
        )
    return float(min_pixels)


def keep_mask(fg: torch.Tensor, min_pixels: float | None = None, threshold: float = 0.8) -> torch.Tensor:
    """bool ``(N,)``: True for images with MORE than ``min_pixels`` pixels at confidence >= ``threshold``.

    The paper drops images with at most 100 such pixels at 96x96. ``min_pixels=None``
    uses that floor scaled by area (:func:`min_pixels_for`: 11.1 at 32x32, so 12
    pixels are needed there); pass a number to fix it. ``threshold`` is on the 0..1
    scale; a uint8 value ``v`` counts when ``v / 255 >= threshold`` exactly, i.e.
    ``v >= ceil(255 * threshold)`` (204 for 0.8). Float maps are compared directly.

    Example:
        >>> import torch
        >>> from focusmim.segment import keep_mask
        >>> fg = torch.zeros(2, 1, 96, 96, dtype=torch.uint8)
        >>> fg[0].view(-1)[:100] = 204     # exactly 100 confident pixels: dropped
        >>> fg[1].view(-1)[:101] = 204     # 101: kept
        >>> keep_mask(fg).tolist()
        [False, True]
    """
    _check_maps(fg, "fg")
    threshold = _check_fraction("threshold", threshold)
    limit = _resolve_min_pixels(min_pixels, fg.shape[-2], fg.shape[-1])
    return _confident_counts(fg, threshold) > limit


def filter_report(fg: torch.Tensor, min_pixels: float | None = None, threshold: float = 0.8) -> dict:
    """Counts for the paper's filter: ``n``, ``kept``, ``dropped``, ``fraction_dropped``,
    the effective ``min_pixels`` and ``threshold``, and ``uint8_level`` (for uint8 maps).

    Example:
        >>> import torch
        >>> from focusmim.segment import filter_report
        >>> r = filter_report(torch.full((4, 1, 96, 96), 255, dtype=torch.uint8))
        >>> r["kept"], r["dropped"], r["uint8_level"]
        (4, 0, 204)
    """
    keep = keep_mask(fg, min_pixels, threshold)
    n = int(keep.numel())
    kept = int(keep.sum())
    return {
        "n": n,
        "kept": kept,
        "dropped": n - kept,
        "fraction_dropped": (n - kept) / n if n else 0.0,
        "min_pixels": _resolve_min_pixels(min_pixels, fg.shape[-2], fg.shape[-1]),
        "threshold": float(threshold),
        "uint8_level": _uint8_level(threshold) if fg.dtype == torch.uint8 else None,
    }


# ------------------------------------------------------------------------ IoU
class IoUResult(NamedTuple):
    per_image: torch.Tensor  # float (N,)
    mean: float


def _binary(fg: torch.Tensor, threshold: float) -> torch.Tensor:
    if fg.dtype == torch.uint8:
        return fg >= _uint8_level(threshold)
    return fg >= threshold


def iou(pred_fg: torch.Tensor, gt_fg: torch.Tensor, threshold: float = 0.5) -> IoUResult:
    """Intersection over union of the two maps binarised at ``threshold`` (0..1 scale).

    Either map may be uint8 (0..255, binarised at ``ceil(255 * threshold)``) or float
    (0..1). An image where both masks are empty scores 1 (they agree).

    Example:
        >>> import torch
        >>> from focusmim.segment import iou
        >>> a = torch.zeros(1, 1, 4, 4); a[..., :2, :] = 1     # top half
        >>> b = torch.zeros(1, 1, 4, 4); b[..., :, :2] = 1     # left half
        >>> r = iou(a, b)
        >>> r.per_image.tolist(), round(r.mean, 4)
        ([0.3333333432674408], 0.3333)
    """
    _check_maps(pred_fg, "pred_fg")
    _check_maps(gt_fg, "gt_fg")
    if pred_fg.shape != gt_fg.shape:
        raise ValueError(
            f"pred_fg has shape {tuple(pred_fg.shape)} and gt_fg {tuple(gt_fg.shape)}; allowed: equal shapes"
        )
    threshold = _check_fraction("threshold", threshold)
    p = _binary(pred_fg, threshold).flatten(1)
    g = _binary(gt_fg, threshold).to(p.device).flatten(1)
    inter = (p & g).sum(1).float()
    union = (p | g).sum(1).float()
    per = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return IoUResult(per, float(per.mean()) if per.numel() else float("nan"))


# ---------------------------------------------------------------- data hookup
def _data_cache_dir() -> Path:
    try:
        from focusmim.data import cache_dir  # type: ignore[attr-defined]

        return Path(cache_dir())
    except ImportError:
        return Path(os.environ.get("FOCUSMIM_CACHE") or Path("~/.cache/focusmim").expanduser())


def foreground_cache_path(images: torch.Tensor, name: str = "", cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`attach_foreground` caches the maps of ``images``:
    ``<cache_dir>/foreground/<name>-<N>x<H>x<W>-<hash of the images>-u2netp.pt``.

    Example:
        >>> import torch
        >>> from focusmim.segment import foreground_cache_path
        >>> p = foreground_cache_path(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "toy", "/tmp/c")
        >>> p.parent.as_posix(), p.name.startswith("toy-2x8x8-")
        ('/tmp/c/foreground', True)
    """
    _check_images(images)
    root = Path(cache_dir) if cache_dir is not None else _data_cache_dir()
    n, _, h, w = images.shape
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (name or "images"))
    return root / "foreground" / f"{safe}-{n}x{h}x{w}-{_fingerprint(images)[:16]}-{MODEL_NAME}.pt"


_PRINTED: set[str] = set()


def _print_once(msg: str) -> None:
    """Print ``msg`` the first time only: every run of a chapter that loads the same
    filtered split reports the same counts (chapter 5 printed its filter line twice)."""
    if msg not in _PRINTED:
        _PRINTED.add(msg)
        print(msg)


def attach_foreground(
    imageset,
    cfg,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    batch_size: int = 256,
    workers: int | None = None,
    min_pixels: float | None = None,
    threshold: float = 0.8,
    drop: bool = True,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
):
    """rembg maps for an ImageSet (cached), the paper's filter applied: a new ImageSet.

    Images whose map has at most ``min_pixels`` pixels (``None``: 100 scaled to the
    image area) at confidence >= ``threshold`` are dropped; the others keep their
    labels, and ``.foreground`` holds their uint8 maps. The number dropped is logged
    and, with ``progress``, printed. ``cfg.foreground`` must be ``'rembg'``.
    ``drop=False`` attaches the maps to every image and only reports the count (the
    paper filtered its pretraining set, not the probe's labeled/test images).

    Example:
        >>> from focusmim.config import make_config
        >>> from focusmim import data, segment
        >>> cfg = make_config("smoke", foreground="rembg")              # doctest: +SKIP
        >>> ds = segment.attach_foreground(data.load("synthetic", "unlabeled", n=64), cfg)  # doctest: +SKIP
    """
    if not isinstance(drop, bool):
        raise ValueError(f"drop={drop!r} is not allowed; allowed: True, False")
    fg_mode = getattr(cfg, "foreground", None)
    if fg_mode != "rembg":
        raise ValueError(f"cfg.foreground={fg_mode!r} is not allowed here; allowed: 'rembg'")
    images = getattr(imageset, "images", None)
    _check_images(images, "imageset.images")
    name = getattr(imageset, "name", "") or getattr(cfg, "dataset", "")
    path = foreground_cache_path(images, name, cache_dir)
    fg = foreground_maps(
        images, batch_size=batch_size, progress=progress, cache_path=path, workers=workers, predict=predict
    )
    report = filter_report(fg, min_pixels, threshold)
    keep = keep_mask(fg, min_pixels, threshold)
    if not drop:
        msg = (
            f"rembg foreground on {name or 'images'}: {report['dropped']} of {report['n']} images have at most "
            f"{report['min_pixels']:.1f} pixels at confidence >= {threshold} (kept, drop=False)"
        )
        log.info(msg)
        if progress:
            _print_once(msg)
        return dataclasses.replace(imageset, foreground=fg.to(images.device))
    if report["kept"] == 0:
        raise ValueError(
            f"the foreground filter dropped all {report['n']} images of {name!r} (min_pixels="
            f"{report['min_pixels']:.1f}, threshold={threshold}); allowed: a set where rembg finds an object"
        )
    msg = (
        f"rembg foreground filter on {name or 'images'}: kept {report['kept']} of {report['n']}, dropped "
        f"{report['dropped']} ({100 * report['fraction_dropped']:.1f}%) with at most {report['min_pixels']:.1f} "
        f"pixels at confidence >= {threshold}"
    )
    log.info(msg)
    if progress:
        _print_once(msg)
    index = torch.nonzero(keep).squeeze(1)
    subset = imageset.subset(index.to(images.device))
    return dataclasses.replace(subset, foreground=fg[index].to(subset.images.device))


def split_with_maps(cfg, split: str, n: int | None = None, *, drop: bool = False, workers: int | None = None,
                    progress: bool = True):
    """The first ``n`` images (``None``: all) of a split of ``cfg``'s dataset with rembg's
    maps attached (cached; see :func:`attach_foreground`); ``drop`` applies the paper's filter.

    Maps are computed only for the images returned, so chapters that measure on a few
    test images do not run u2netp on the whole split.
    """
    from focusmim.data import load_for_config

    ds = load_for_config(cfg.replace(foreground="none"), split)
    if n is not None:
        ds = ds.subset(torch.arange(min(n, len(ds))))
    return attach_foreground(ds, cfg.replace(foreground="rembg"), drop=drop, workers=workers, progress=progress)
