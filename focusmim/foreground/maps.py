"""Foreground confidence maps from rembg's u2netp (``rembg.new_session("u2netp")``).

The paper weights the reconstruction loss by how confident a salient-object
detector is that a pixel belongs to the object. This module computes those maps
once per dataset with rembg's small ``u2netp`` network and caches them as a uint8
tensor (resumable: chunks are written as they are finished; see
:mod:`focusmim.foreground.cache`).

Pre- and post-processing follow rembg 2.x's ``U2netpSession.predict`` exactly
(Lanczos resize to 320x320, divide by the image's maximum, ImageNet mean/std,
per-image min-max rescaling of the first output, truncation to uint8, Lanczos
resize back), so a map from :func:`foreground_maps` equals the mask rembg
itself returns for the same image, bit for bit. The ONNX graph has a fixed
batch size of 1, so inference runs image by image inside each chunk; onnxruntime
spreads each image over ``workers`` intra-op threads (or runs on the GPU when
onnxruntime's ``CUDAExecutionProvider`` is available).

Example (a stand-in predictor instead of u2netp; a second call reads the cache):

    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from focusmim.foreground.maps import foreground_maps
    >>> images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    >>> path = Path(tempfile.mkdtemp()) / "maps.pt"
    >>> fg = foreground_maps(images, predict=lambda x: x[:, :1].clone(), cache_path=path, progress=False)
    >>> again = foreground_maps(images, predict=lambda x: 1 / 0, cache_path=path, progress=False)
    >>> torch.equal(fg, again), tuple(fg.shape)
    (True, (3, 1, 16, 16))

Weights: ``u2netp.onnx`` (md5 ``8e83ca70e441ab06c318d82300c84806``) is looked up
in ``$U2NET_HOME``. When that variable is unset it defaults to the ``shared/models``
folder beside the repository if that exists, else to ``~/.u2net``. Nothing is
ever downloaded: a missing file raises :class:`FileNotFoundError` first.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from focusmim.registry import Param

from .cache import MODEL_NAME, ChunkStore, check_images, chunk_ranges

__all__ = ["MODEL_NAME", "WEIGHTS_MD5", "weights_path", "session", "U2netpPredictor", "foreground_maps"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "u2netp.onnx"
WEIGHTS_MD5 = "8e83ca70e441ab06c318d82300c84806"
MODEL_SIZE = 320  # u2netp's fixed input resolution
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
WORKERS = Param("int", None, low=1, none=True, doc="onnxruntime intra-op threads (None: all cores)")
BATCH_SIZE = Param("int", 256, low=1)


# --------------------------------------------------------------------- weights
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


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
        >>> from focusmim.foreground import weights_path
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


def session(workers: int | None = None):
    """The cached rembg ``u2netp`` session (``rembg.new_session("u2netp")``).

    ``workers`` sets onnxruntime's intra-op threads (``None``: onnxruntime's
    default, all cores). The CUDA execution provider is used when onnxruntime
    offers it. One session is kept per (weights file, workers).

    Example:
        >>> from focusmim.foreground import session
        >>> s = session(workers=2)                  # doctest: +SKIP
        >>> s.inner_session.get_inputs()[0].shape  # doctest: +SKIP
        [1, 3, 320, 320]
    """
    WORKERS.check("workers", workers)
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
        >>> from focusmim.foreground import U2netpPredictor, session
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
        check_images(images)
        h, w = images.shape[-2:]
        return self.postprocess(self.infer(self.preprocess(images.cpu())), h, w)


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
        >>> from focusmim.foreground import foreground_maps
        >>> x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
        >>> fg = foreground_maps(x, batch_size=2, progress=False, predict=lambda b: b[:, :1].clone())
        >>> bool((fg == x[:, :1]).all())
        True
    """
    check_images(images)
    BATCH_SIZE.check("batch_size", batch_size)
    WORKERS.check("workers", workers)
    if predict is not None and not callable(predict):
        raise ValueError(f"predict={predict!r} is not allowed; allowed: None or a callable")
    images = images.detach().cpu()
    n, _, h, w = images.shape
    store = None
    if cache_path is None:
        out = torch.zeros((n, 1, h, w), dtype=torch.uint8)
        done = np.zeros(n, dtype=bool)
    else:
        store = ChunkStore(cache_path, images)
        finished = store.load_finished()
        if finished is not None:
            return finished
        out, done = store.load_parts()

    jobs = chunk_ranges(~done, batch_size)
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
                if store is not None:
                    store.save_chunk(s, e, chunk)
                if bar is not None:
                    bar.update(e - s)
        finally:
            if bar is not None:
                bar.close()

    if store is not None:
        store.finish(out)
    return out
