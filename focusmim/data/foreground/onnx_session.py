"""rembg's u2netp weights (found under ``U2NET_HOME``, md5 checked) and the onnxruntime sessions that run
them, one image at a time as rembg does or batched (the graph rewritten with a free batch axis).
"""
from __future__ import annotations
import functools
import hashlib
import os
from pathlib import Path
from focusmim.config.registry import Param
from .cache import MODEL_NAME
from .onnx_proto import message_classes



WEIGHTS_FILE = "u2netp.onnx"


WEIGHTS_MD5 = "8e83ca70e441ab06c318d82300c84806"


WORKERS = Param("int", None, low=1, none=True, doc="onnxruntime intra-op threads (None: all cores)")


# --------------------------------------------------------------------- weights
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


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
        >>> from focusmim.data.foreground import weights_path
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
        >>> from focusmim.data.foreground import session
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
