"""Foreground confidence maps from rembg's u2netp (``rembg.new_session("u2netp")``).

The paper weights the reconstruction loss by how confident a salient-object
detector is that a pixel belongs to the object. This module computes those maps
once per dataset with rembg's small ``u2netp`` network and caches them as a uint8
tensor (resumable: chunks are written as they are finished; see
:mod:`focusmim.data.foreground.cache`).

Pre- and post-processing follow rembg 2.x's ``U2netpSession.predict`` exactly
(Lanczos resize to 320x320, divide by the image's maximum, ImageNet mean/std,
per-image min-max rescaling of the first output, truncation to uint8, Lanczos
resize back), so a map from :func:`foreground_maps` equals the mask rembg
itself returns for the same image, bit for bit. The ONNX graph rembg ships fixes
its batch size to 1; :func:`batched_model` rewrites that one number in memory (a
named, free batch dimension, with the few ONNX protobuf fields it touches declared
here, so the ``onnx`` package is not needed) and the network then runs on
``infer_batch`` images per onnxruntime call: its outputs equal the image-by-image
ones exactly. onnxruntime spreads each call over ``workers`` intra-op threads (all
cores by default), or runs on the GPU when its ``CUDAExecutionProvider`` is
available. If the rewritten graph cannot be built or run, inference falls back to
rembg's own session, image by image, with a warning.

Two paths compute the same maps: rembg's onnxruntime session (above, backend
``"onnxruntime-u2netp"``) and the torch port :mod:`focusmim.data.foreground.u2netp`
(``"torch-u2netp"``; within one uint8 level of onnxruntime's maps on 99.9 % of
pixels). :func:`backend_for` picks one by a fixed rule, never by timing at run time:
torch where CUDA is available (onnxruntime's GPU build is not installed there), and
onnxruntime on a CPU, where benchmarks/bench_u2netp.py measured it faster than torch
(:data:`CPU_BACKEND`). The map cache records the backend that made its maps
(:mod:`focusmim.data.foreground.cache`); cache file names and run keys do not depend on it.

Example (a stand-in predictor instead of u2netp; a second call reads the cache):

    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from focusmim.data.foreground.maps import foreground_maps
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

import logging
import os
from typing import Callable

import numpy as np
import torch

from focusmim.config.registry import Param

from .cache import MODEL_NAME, ChunkStore, check_images, chunk_ranges
from .u2netp import BACKEND as TORCH_BACKEND
from .u2netp import TorchU2netp

from .onnx_session import WEIGHTS_MD5, WORKERS, _batched_session, batched_model, session, weights_path

__all__ = ["MODEL_NAME", "WEIGHTS_MD5", "ONNX_BACKEND", "TORCH_BACKEND", "CPU_BACKEND", "weights_path", "session",
           "batched_model", "U2netpPredictor", "backend_for", "default_predictor", "foreground_maps"]

log = logging.getLogger(__name__)

MODEL_SIZE = 320  # u2netp's fixed input resolution
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BATCH_SIZE = Param("int", 256, low=1)
INFER_BATCH = Param("int", None, low=1, none=True, doc="images per onnxruntime call (None: by device)")
# Images per onnxruntime call. On a CPU u2netp holds about 250 MB of activations per image (320x320), and a
# single image already keeps 2 cores busy (convolutions are 2/3 of its time): measured on 2 shared cores
# (benchmarks/bench_foreground.py, 200 photographs at 96 px), calls of 4 or 8 images gave 1.2x the images/s of
# one image per call, calls of 32 0.8x (page faults of an 8 GB working set). On a GPU larger calls fill the device.
INFER_BATCH_CPU = 8
INFER_BATCH_CUDA = 64
ONNX_BACKEND = "onnxruntime-u2netp"
# The backend on a CPU: onnxruntime, faster there. benchmarks/bench_u2netp.py (2 AMD EPYC cores shared with other
# jobs, 200 photographs at 96 px, both paths interleaved in one run, 8 images per call): onnxruntime 0.88 images/s,
# torch 0.48 (0.55x; results/u2netp-cpu-2026-12-06.json); in CPU time on one thread, torch's network took 0.67 s
# an image against onnxruntime's 0.54. On CUDA torch is used: onnxruntime's GPU build is not installed there.
CPU_BACKEND = ONNX_BACKEND


# ------------------------------------------------------------------- predictor
def backend_for(device: str | torch.device | None = None) -> str:
    """The path that computes maps on ``device`` (``None``: CUDA if torch sees a GPU, else the CPU):
    :data:`TORCH_BACKEND` on CUDA, :data:`CPU_BACKEND` elsewhere. A fixed rule; nothing is timed.

    Example:
        >>> from focusmim.data.foreground.maps import backend_for
        >>> backend_for("cpu"), backend_for("cuda")
        ('onnxruntime-u2netp', 'torch-u2netp')
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return TORCH_BACKEND if torch.device(device).type == "cuda" else CPU_BACKEND


def default_predictor(workers: int | None = None, device: str | torch.device | None = None):
    """The predictor :func:`foreground_maps` uses: :class:`~focusmim.data.foreground.u2netp.TorchU2netp` on
    ``device`` when :func:`backend_for` picks torch, else :class:`U2netpPredictor` on rembg's session
    (``workers``: its onnxruntime threads). Either has a ``backend`` attribute naming it.

    Example:
        >>> from focusmim.data.foreground.maps import default_predictor
        >>> default_predictor(device="cpu").backend       # doctest: +SKIP
        'onnxruntime-u2netp'
    """
    WORKERS.check("workers", workers)
    if backend_for(device) == TORCH_BACKEND:
        return TorchU2netp(weights_path(), device=device or "cuda")
    return U2netpPredictor(session(workers), workers=workers)


class U2netpPredictor:
    """uint8 images ``(B,3,H,W)`` -> uint8 maps ``(B,1,H,W)``, exactly as rembg's u2netp.

    Resizing uses PIL's Lanczos filter image by image (as rembg does, so results
    match bit for bit); the normalisation, the network (``infer_batch`` images per
    onnxruntime call, see :func:`batched_model`) and the min-max rescaling are batched.
    ``infer_batch=1`` runs rembg's own session image by image, as before batching.

    Example:
        >>> from focusmim.data.foreground import U2netpPredictor, session
        >>> predict = U2netpPredictor(session())           # doctest: +SKIP
        >>> predict(images_uint8).shape                    # doctest: +SKIP
        torch.Size([4, 1, 96, 96])
    """

    backend = ONNX_BACKEND

    def __init__(self, sess, infer_batch: int | None = None, workers: int | None = None):
        INFER_BATCH.check("infer_batch", infer_batch)
        self.session = sess
        self.inner = sess.inner_session
        self.input_name = self.inner.get_inputs()[0].name
        on_gpu = "CUDAExecutionProvider" in self.inner.get_providers()
        self.infer_batch = infer_batch or (INFER_BATCH_CUDA if on_gpu else INFER_BATCH_CPU)
        self.batched = None
        if self.infer_batch > 1:
            try:
                self.batched = _batched_session(str(weights_path()), workers)
            except Exception as e:  # noqa: BLE001 - any failure leaves rembg's own session
                log.warning("u2netp runs image by image: its graph could not be batched (%s)", e)

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
        """float32 ``(B,320,320)``: the first output's channel 0, ``infer_batch`` images per call."""
        if self.batched is not None:
            try:
                return np.concatenate([self.batched.run(None, {self.input_name: x[i:i + self.infer_batch]})[0][:, 0]
                                       for i in range(0, len(x), self.infer_batch)], axis=0)
            except Exception as e:  # noqa: BLE001 - e.g. out of memory: the image-by-image path still works
                log.warning("u2netp batched inference failed (%s); running image by image", e)
                self.batched = None
        return self.infer_single(x)

    def infer_single(self, x: np.ndarray) -> np.ndarray:
        """As :meth:`infer`, one image per call through rembg's session (batch-1 graph)."""
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
        workers: onnxruntime intra-op threads (``None``: all cores); unused by the torch path.
        predict: maps uint8 ``(B,3,H,W)`` -> uint8 ``(B,1,H,W)``; default u2netp on the path
            :func:`backend_for` picks (:func:`default_predictor`). Only built when something is
            left to compute. Its ``backend`` attribute, if any, is recorded in the cache.

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import foreground_maps
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
            predict = default_predictor(workers)
        backend = getattr(predict, "backend", None)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=int(done.sum()), desc=f"u2netp ({backend or 'custom'})", unit="img")
        try:
            for s, e in jobs:
                chunk = predict(images[s:e])
                if not isinstance(chunk, torch.Tensor) or tuple(chunk.shape) != (e - s, 1, h, w):
                    got = tuple(chunk.shape) if isinstance(chunk, torch.Tensor) else type(chunk).__name__
                    raise ValueError(f"predict returned {got}; expected a uint8 tensor of shape {(e - s, 1, h, w)}")
                chunk = chunk.to(device="cpu", dtype=torch.uint8).contiguous()
                out[s:e] = chunk
                if store is not None:
                    store.save_chunk(s, e, chunk, backend)
                if bar is not None:
                    bar.update(e - s)
        finally:
            if bar is not None:
                bar.close()

    if store is not None:
        store.finish(out)
    return out
