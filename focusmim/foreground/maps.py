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
``"onnxruntime-u2netp"``) and the torch port :mod:`focusmim.foreground.u2netp`
(``"torch-u2netp"``; within one uint8 level of onnxruntime's maps on 99.9 % of
pixels). :func:`backend_for` picks one by a fixed rule, never by timing at run time:
torch where CUDA is available (onnxruntime's GPU build is not installed there), and
onnxruntime on a CPU, where benchmarks/bench_u2netp.py measured it faster than torch
(:data:`CPU_BACKEND`). The map cache records the backend that made its maps
(:mod:`focusmim.foreground.cache`); cache file names and run keys do not depend on it.

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
from .onnx_proto import message_classes
from .u2netp import BACKEND as TORCH_BACKEND
from .u2netp import TorchU2netp

__all__ = ["MODEL_NAME", "WEIGHTS_MD5", "ONNX_BACKEND", "TORCH_BACKEND", "CPU_BACKEND", "weights_path", "session",
           "batched_model", "U2netpPredictor", "backend_for", "default_predictor", "foreground_maps"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "u2netp.onnx"
WEIGHTS_MD5 = "8e83ca70e441ab06c318d82300c84806"
MODEL_SIZE = 320  # u2netp's fixed input resolution
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
WORKERS = Param("int", None, low=1, none=True, doc="onnxruntime intra-op threads (None: all cores)")
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

    ``workers`` sets onnxruntime's intra-op threads (``None``: every core this
    process may use). The CUDA execution provider is used when onnxruntime
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


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _options(workers: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = workers or _cores()
    opts.inter_op_num_threads = 1
    return opts


def _providers() -> list[str]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


@functools.lru_cache(maxsize=4)
def _session(path: str, workers: int | None):
    import rembg

    return rembg.new_session(MODEL_NAME, sess_opts=_options(workers), providers=_providers())


def _onnx_classes():
    """Protobuf classes for the few ONNX fields :func:`batched_model` reads and writes
    (field numbers as in onnx.proto); every other field is kept as unknown bytes and
    written back unchanged."""
    return message_classes("focusmim_onnx_subset", {
        "Dimension": [("dim_value", 1, "int64", False, None), ("dim_param", 2, "string", False, None)],
        "TensorShape": [("dim", 1, "message", True, "Dimension")],
        "TensorType": [("elem_type", 1, "int32", False, None), ("shape", 2, "message", False, "TensorShape")],
        "Type": [("tensor_type", 1, "message", False, "TensorType")],
        "ValueInfo": [("name", 1, "string", False, None), ("type", 2, "message", False, "Type")],
        "Graph": [("input", 11, "message", True, "ValueInfo"), ("output", 12, "message", True, "ValueInfo"),
                  ("value_info", 13, "message", True, "ValueInfo")],
        "Model": [("graph", 7, "message", False, "Graph")],
    })["Model"]


@functools.lru_cache(maxsize=2)
def batched_model(path: str) -> bytes:
    """The ONNX graph at ``path`` with its batch dimension free (``"batch"``) instead of 1.

    Only the first dimension of the graph's inputs, outputs and recorded
    intermediate shapes changes; u2netp computes every resize size from its
    tensors' shapes, so the rewritten graph runs any number of images at once.
    Raises :class:`ValueError` when the graph's inputs are not batch-1 tensors.

    Example:
        >>> import onnxruntime as ort                                   # doctest: +SKIP
        >>> s = ort.InferenceSession(batched_model(str(weights_path())))  # doctest: +SKIP
        >>> s.get_inputs()[0].shape                                      # doctest: +SKIP
        ['batch', 3, 320, 320]
    """
    model = _onnx_classes()()
    model.ParseFromString(Path(path).read_bytes())
    graph = model.graph
    if not graph.input or any(len(v.type.tensor_type.shape.dim) < 1 or
                              v.type.tensor_type.shape.dim[0].dim_value != 1 for v in graph.input):
        raise ValueError(f"{path}: expected graph inputs with batch size 1, found "
                         f"{[[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in graph.input]}")
    for v in [*graph.input, *graph.output, *graph.value_info]:
        dims = v.type.tensor_type.shape.dim
        if len(dims) and dims[0].dim_value == 1:
            dims[0].dim_param = "batch"  # the oneof: clears dim_value
    return model.SerializeToString()


@functools.lru_cache(maxsize=4)
def _batched_session(path: str, workers: int | None):
    import onnxruntime as ort

    return ort.InferenceSession(batched_model(path), sess_options=_options(workers), providers=_providers())


# ------------------------------------------------------------------- predictor
def backend_for(device: str | torch.device | None = None) -> str:
    """The path that computes maps on ``device`` (``None``: CUDA if torch sees a GPU, else the CPU):
    :data:`TORCH_BACKEND` on CUDA, :data:`CPU_BACKEND` elsewhere. A fixed rule; nothing is timed.

    Example:
        >>> from focusmim.foreground.maps import backend_for
        >>> backend_for("cpu"), backend_for("cuda")
        ('onnxruntime-u2netp', 'torch-u2netp')
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return TORCH_BACKEND if torch.device(device).type == "cuda" else CPU_BACKEND


def default_predictor(workers: int | None = None, device: str | torch.device | None = None):
    """The predictor :func:`foreground_maps` uses: :class:`~focusmim.foreground.u2netp.TorchU2netp` on
    ``device`` when :func:`backend_for` picks torch, else :class:`U2netpPredictor` on rembg's session
    (``workers``: its onnxruntime threads). Either has a ``backend`` attribute naming it.

    Example:
        >>> from focusmim.foreground.maps import default_predictor
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
        >>> from focusmim.foreground import U2netpPredictor, session
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
