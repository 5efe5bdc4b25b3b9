"""rembg's u2netp as a torch module: the same foreground maps, batched on any device.

The network is U^2-Net's small variant (Qin et al. 2020; "u2netp": RSU-7/6/5/4 and
the dilated RSU-4F blocks with 16 middle and 64 outer channels, six side outputs
fused by a 1x1 convolution). Its weights are read from the very ONNX file rembg
runs (``u2netp.onnx``; batch norm is folded into the convolutions there): the
graph's 119 ``Conv`` nodes, in the graph's order, are matched to this module's
convolutions in the order they run, each one's kernel, dilation, padding and
weight shape checked, so a file that does not hold u2netp fails with one line.

:class:`TorchU2netp` keeps rembg's pre- and post-processing exactly: Pillow's
Lanczos resize (reproduced bit for bit as two integer matrix products, see
:func:`resize_uint8`) to 320x320, division by the image's maximum, ImageNet
mean/std (in float64, as numpy does in rembg), per-image min-max scaling of the
fused output, truncation to uint8 and Lanczos back to the image's size. Only the
network's float32 arithmetic differs from onnxruntime's, so maps agree with
rembg's to within one uint8 level on almost every pixel
(tests/foreground/test_u2netp.py measures it on 200 photographs).

Example (random weights, so it runs without the ONNX file):

    >>> import torch
    >>> from focusmim.data.foreground.u2netp import U2Netp, TorchU2netp
    >>> predict = TorchU2netp(U2Netp(), device="cpu")
    >>> maps = predict(torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8))
    >>> tuple(maps.shape), maps.dtype, predict.backend
    ((2, 1, 24, 24), torch.uint8, 'torch-u2netp')
    >>> net = load_u2netp("u2netp.onnx")           # doctest: +SKIP
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import check_images
from .onnx_proto import message_classes

__all__ = ["BACKEND", "U2Netp", "load_u2netp", "read_onnx_convs", "resize_uint8", "TorchU2netp"]

BACKEND = "torch-u2netp"
MODEL_SIZE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
PRECISION_BITS = 22  # Pillow's fixed-point precision for 8-bit resampling (32 - 8 - 2)


# --------------------------------------------------------------------- network
class _ConvReLU(nn.Module):
    """U^2-Net's REBNCONV with its batch norm folded into the convolution (as in the ONNX file)."""

    def __init__(self, cin: int, cout: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        return F.relu(self.conv(x), inplace=True)


def _up(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _pool(x):
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of ``height`` levels: RSU-L (max-pooling, last level dilated by 2)
    or, with ``dilated``, RSU-4F (no pooling, dilations 1, 2, 4, 8). Modules are defined in
    the order they run."""

    def __init__(self, height: int, cin: int, mid: int, cout: int, dilated: bool = False):
        super().__init__()
        self.dilated = dilated
        dil = [1, 2, 4, 8] if dilated else [1] * (height - 1) + [2]
        self.conv_in = _ConvReLU(cin, cout)
        self.enc = nn.ModuleList(_ConvReLU(cout if i == 0 else mid, mid, d) for i, d in enumerate(dil))
        self.dec = nn.ModuleList(_ConvReLU(2 * mid, cout if i == len(dil) - 2 else mid, dil[len(dil) - 2 - i])
                                 for i in range(len(dil) - 1))

    def forward(self, x):
        hxin = self.conv_in(x)
        skips, h = [], hxin
        for i, layer in enumerate(self.enc):
            if not self.dilated and 0 < i < len(self.enc) - 1:
                h = _pool(h)
            h = layer(h)
            skips.append(h)
        h = skips.pop()
        for i, layer in enumerate(self.dec):
            s = skips.pop()
            h = layer(torch.cat((_up(h, s) if not self.dilated and i > 0 else h, s), 1))
        return h + hxin


class U2Netp(nn.Module):
    """u2netp: float ``(B,3,H,W)`` normalised images -> saliency ``(B,1,H,W)`` in ``[0,1]``
    (the fused output ``d0``; the six side outputs are not returned)."""

    def __init__(self, mid: int = 16, out: int = 64):
        super().__init__()
        self.enc = nn.ModuleList([RSU(7, 3, mid, out), RSU(6, out, mid, out), RSU(5, out, mid, out),
                                  RSU(4, out, mid, out), RSU(4, out, mid, out, True), RSU(4, out, mid, out, True)])
        self.dec = nn.ModuleList([RSU(4, 2 * out, mid, out, True), RSU(4, 2 * out, mid, out),
                                  RSU(5, 2 * out, mid, out), RSU(6, 2 * out, mid, out), RSU(7, 2 * out, mid, out)])
        self.side = nn.ModuleList(nn.Conv2d(out, 1, 3, padding=1) for _ in range(6))
        self.fuse = nn.Conv2d(6, 1, 1)

    def forward(self, x):
        hs, h = [], x
        for i, stage in enumerate(self.enc):
            h = stage(_pool(h) if i > 0 else h)
            hs.append(h)
        feats = [hs.pop()]  # hx6, then hx5d .. hx1d
        for stage in self.dec:
            s = hs.pop()
            feats.append(stage(torch.cat((_up(feats[-1], s), s), 1)))
        feats.reverse()
        d1 = self.side[0](feats[0])
        sides = [d1] + [_up(self.side[i](feats[i]), d1) for i in range(1, 6)]
        return torch.sigmoid(self.fuse(torch.cat(sides, 1)))


# ----------------------------------------------------------------- ONNX weights
def _onnx_classes():
    """Protobuf classes for the ONNX fields read here (field numbers as in onnx.proto)."""
    return message_classes("focusmim_onnx_weights", {
        "Tensor": [("dims", 1, "int64", True, None), ("data_type", 2, "int32", False, None),
                   ("float_data", 4, "float", True, None), ("name", 8, "string", False, None),
                   ("raw_data", 9, "bytes", False, None)],
        "Attribute": [("name", 1, "string", False, None), ("i", 3, "int64", False, None),
                      ("t", 5, "message", False, "Tensor"), ("ints", 8, "int64", True, None)],
        "Node": [("input", 1, "string", True, None), ("output", 2, "string", True, None),
                 ("name", 3, "string", False, None), ("op_type", 4, "string", False, None),
                 ("attribute", 5, "message", True, "Attribute")],
        "Graph": [("node", 1, "message", True, "Node"), ("initializer", 5, "message", True, "Tensor")],
        "Model": [("graph", 7, "message", False, "Graph")],
    })


def _array(t) -> np.ndarray:
    if t.data_type != 1:  # FLOAT
        raise ValueError(f"tensor {t.name!r} has ONNX data type {t.data_type}; expected 1 (float32)")
    data = np.frombuffer(t.raw_data, dtype="<f4") if t.raw_data else np.asarray(t.float_data, dtype=np.float32)
    return data.astype(np.float32).reshape(tuple(t.dims))


def read_onnx_convs(path: str | os.PathLike) -> tuple[list[dict], set[str]]:
    """``(convs, ops)``: the ``Conv`` nodes of the ONNX graph at ``path`` in graph order, each a dict
    with ``name``, ``weight``, ``bias`` (float32 arrays; bias None when absent) and the attributes
    ``dilations``, ``pads``, ``strides``, ``group``; and the set of the graph's op types.
    Weights may be initializers or ``Constant`` nodes."""
    model = _onnx_classes()["Model"]()
    model.ParseFromString(Path(path).read_bytes())
    graph = model.graph
    tensors = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    tensors[node.output[0]] = a.t
    convs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: (list(a.ints) if a.ints else int(a.i)) for a in node.attribute}
        ins = list(node.input)
        if len(ins) < 2 or ins[1] not in tensors:
            raise ValueError(f"{path}: Conv node {node.name or ins} has no constant weight")
        bias = _array(tensors[ins[2]]) if len(ins) > 2 and ins[2] else None
        convs.append({"name": node.name or node.output[0], "weight": _array(tensors[ins[1]]), "bias": bias,
                      "dilations": attrs.get("dilations", [1, 1]), "pads": attrs.get("pads", [0, 0, 0, 0]),
                      "strides": attrs.get("strides", [1, 1]), "group": attrs.get("group", 1)})
    return convs, {n.op_type for n in graph.node}


def load_u2netp(path: str | os.PathLike) -> U2Netp:
    """A :class:`U2Netp` (eval mode, CPU) holding the weights of the ONNX file at ``path``.

    Raises :class:`ValueError` with one line when the graph does not match u2netp
    (number of convolutions, or one convolution's weight shape, bias, dilation, padding,
    stride or groups; or batch norm left unfolded)."""
    net = U2Netp().eval()
    mods = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        convs, ops = read_onnx_convs(path)
    except Exception as e:  # not a protobuf, or not float weights
        raise ValueError(f"{path} is not an ONNX file of rembg's u2netp: {e}") from None
    bad = ops & {"BatchNormalization", "ConvTranspose", "Gemm"}
    if len(convs) != len(mods) or bad:
        raise ValueError(f"{path} does not hold rembg's u2netp: {len(convs)} Conv nodes (expected {len(mods)})"
                         + (f" and unexpected {sorted(bad)} nodes" if bad else ""))
    with torch.no_grad():
        for i, (m, c) in enumerate(zip(mods, convs)):
            want = {"weight": tuple(m.weight.shape), "bias": (m.out_channels,), "dilations": list(m.dilation),
                    "pads": [*m.padding, *m.padding], "strides": list(m.stride), "group": m.groups}
            got = {"weight": c["weight"].shape, "bias": None if c["bias"] is None else c["bias"].shape,
                   "dilations": c["dilations"], "pads": c["pads"], "strides": c["strides"], "group": c["group"]}
            if got != want:
                diff = {k: got[k] for k in want if got[k] != want[k]}
                raise ValueError(f"{path} does not hold rembg's u2netp: Conv node {i} ({c['name']}) has {diff}, "
                                 f"expected {({k: want[k] for k in diff})}")
            m.weight.copy_(torch.from_numpy(c["weight"]))
            m.bias.copy_(torch.from_numpy(c["bias"]))
    return net


# ------------------------------------------------------- Pillow's Lanczos resize
def _lanczos(x: float) -> float:
    def sinc(v):
        return 1.0 if v == 0.0 else math.sin(v * math.pi) / (v * math.pi)

    return sinc(x) * sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


@functools.lru_cache(maxsize=16)
def _coeffs(in_size: int, out_size: int) -> torch.Tensor:
    """float64 ``(out_size, in_size)`` integer weights of Pillow's Lanczos resampling
    (``precompute_coeffs`` and ``normalize_coeffs_8bpc`` of Pillow's Resample.c)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    ss = 1.0 / filterscale
    k = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        w = [_lanczos((x - center + 0.5) * ss) for x in range(xmin, xmax)]
        ww = 0.0
        for v in w:
            ww += v
        for j, v in enumerate(w):
            v = v / ww if ww != 0.0 else v
            k[xx, xmin + j] = math.trunc((0.5 if v >= 0 else -0.5) + v * (1 << PRECISION_BITS))
    return torch.from_numpy(k)


def _pass(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    acc = torch.matmul(x, k.T.to(x.device)) + float(1 << (PRECISION_BITS - 1))
    return torch.floor(acc / float(1 << PRECISION_BITS)).clamp_(0, 255)


def resize_uint8(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pillow's ``Image.resize((width, height), LANCZOS)`` of every channel of a batch, bit for bit.

    ``x``: ``(..., H, W)`` uint8, or float64 holding integers 0..255; returns float64 with
    integer values (horizontal pass, rounding to 8 bits, then vertical pass, as Pillow).

    Example:
        >>> import numpy as np, torch
        >>> from PIL import Image
        >>> from focusmim.data.foreground.u2netp import resize_uint8
        >>> a = np.random.default_rng(0).integers(0, 256, (17, 23), dtype=np.uint8)
        >>> ours = resize_uint8(torch.from_numpy(a), 40, 9).to(torch.uint8).numpy()
        >>> bool((ours == np.asarray(Image.fromarray(a).resize((9, 40), Image.Resampling.LANCZOS))).all())
        True
    """
    out = x.to(torch.float64)
    if out.shape[-1] != width:
        out = _pass(out, _coeffs(out.shape[-1], width))
    if out.shape[-2] != height:
        out = _pass(out.transpose(-1, -2), _coeffs(out.shape[-2], height)).transpose(-1, -2)
    return out


# -------------------------------------------------------------------- predictor
class TorchU2netp:
    """uint8 images ``(B,3,H,W)`` -> uint8 maps ``(B,1,H,W)`` as rembg's u2netp, in torch.

    ``net``: a :class:`U2Netp` or the path of ``u2netp.onnx``; ``device``: where it runs
    (``None``: CUDA when available, else CPU); ``infer_batch``: images per forward pass
    (``None``: 8 on the CPU, 64 on a GPU). The network runs channels-last (faster on a CPU),
    and on CUDA in true float32 (TF32 off). ``backend`` names the path in the map cache.
    """

    backend = BACKEND

    def __init__(self, net: U2Netp | str | os.PathLike, device: str | torch.device | None = None,
                 infer_batch: int | None = None):
        if infer_batch is not None and (isinstance(infer_batch, bool) or not isinstance(infer_batch, int)
                                        or infer_batch < 1):
            raise ValueError(f"infer_batch={infer_batch!r} is not allowed; allowed: None or an int >= 1")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if not isinstance(net, nn.Module):
            net = load_u2netp(net)
        self.net = net.eval().to(self.device, memory_format=torch.channels_last)
        self.infer_batch = infer_batch or (64 if self.device.type == "cuda" else 8)
        self.mean = torch.tensor(MEAN, dtype=torch.float64, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, dtype=torch.float64, device=self.device).view(1, 3, 1, 1)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """float32 ``(B,3,320,320)``: rembg's ``BaseSession.normalize`` (float64, then cast)."""
        big = resize_uint8(images.to(self.device), MODEL_SIZE, MODEL_SIZE)
        peak = big.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        return ((big / peak - self.mean) / self.std).to(torch.float32)

    @torch.inference_mode()
    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B,320,320)``: the fused output, ``infer_batch`` images per pass."""
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            x = x.contiguous(memory_format=torch.channels_last)
            return torch.cat([self.net(x[i:i + self.infer_batch])[:, 0]
                              for i in range(0, len(x), self.infer_batch)])

    @staticmethod
    def postprocess(pred: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Min-max per image (float32), truncate to uint8, Lanczos back to ``(height, width)``."""
        lo = pred.amin(dim=(1, 2), keepdim=True)
        span = pred.amax(dim=(1, 2), keepdim=True) - lo
        scaled = torch.where(span > 0, (pred - lo) / torch.where(span > 0, span, 1.0), 0.0)
        small = (scaled * 255).to(torch.uint8)  # truncation, as numpy's astype
        return resize_uint8(small, height, width).to(torch.uint8).unsqueeze(1).cpu()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        h, w = images.shape[-2:]
        return self.postprocess(self.infer(self.preprocess(images)), h, w)
