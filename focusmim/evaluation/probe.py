"""Linear probe and kNN on frozen features, as the paper evaluates representations.

The frozen encoder sees unmasked, unaugmented images once; the linear layer is
then fitted on the cached features (the reference implementation re-ran the
encoder in every one of up to 1,000 probe epochs). Protocol: the labeled set is
split 4:1 into train/validation, Adam (lr 1e-4, wd 1e-8, batch 512; see
:func:`probe_batch_size` for smaller sets), early
stopping on validation loss (patience 10, min improvement 1e-4, at most 1,000
epochs), accuracy on the test split, repeated over seeds.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.arange(400) % 4
    >>> x = torch.randn(400, 8, generator=g) + 3 * torch.nn.functional.one_hot(y, 8)
    >>> res = linear_probe(x[:240], y[:240], x[240:320], y[240:320], x[320:], y[320:], lr=1e-2)
    >>> res["accuracy"] > 0.9
    True
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from focusmim.config import resolve_device
from focusmim.data import load_for_config
from focusmim.evaluation.readouts import (MLP_HIDDEN, READOUTS, check_readout, fit_linear_heads, fit_readout, knn_accuracy,
                               probe_batch_size)

__all__ = [
    "features",
    "inference_batch_size",
    "split_labeled",
    "linear_probe",
    "fit_linear_heads",
    "knn_accuracy",
    "probe_features",
    "evaluate",
    "evaluate_readouts",
    "probe_cache_name",
    "READOUTS",
    "probe_batch_size",
    "raw_pixel_baseline",
    "PROBE_DEFAULTS",
    "finetune",
    "linear_head",
]

PROBE_DEFAULTS = dict(lr=1e-4, weight_decay=1e-8, batch_size=None, patience=10, min_delta=1e-4, max_epochs=1000)


def inference_batch_size(device: str | torch.device) -> int:
    """Images per forward pass for frozen-encoder inference: 32 on a CPU (measured on 2
    cores at 96 px: 3.4 ms per image at 32, 8.6 ms at 512), 512 on a GPU.

        >>> inference_batch_size("cpu"), inference_batch_size("cuda")
        (32, 512)
    """
    return 32 if torch.device(device).type == "cpu" else 512


@torch.no_grad()
def features(
    encode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    amp: bool = False,
) -> torch.Tensor:
    """Flattened features ``encode(x)`` of uint8 images (N,3,H,W), float32 (N, D) on ``device``.

    ``batch_size=None`` picks :func:`inference_batch_size` for the device: small on a CPU,
    where large batches at 96 px run 2.5x slower per image (cache misses), large on a GPU.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images must be uint8 (N,3,H,W); got {images.dtype} {tuple(images.shape)}")
    device = torch.device(device)
    batch_size = inference_batch_size(device) if batch_size is None else batch_size
    out = []
    # amp=False: true float32, also on CUDA, whose convolutions would otherwise round through TF32
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False) if not amp \
            else contextlib.nullcontext():
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device).float().div_(255)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                z = encode(x)
            out.append(z.float().reshape(len(x), -1))
    return torch.cat(out)


def split_labeled(n: int, seed: int, val_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Random train/validation index split (the paper: 4,000 / 1,000 of 5,000)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} is out of range; allowed: strictly between 0 and 1")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(10_007 + seed))
    n_val = max(1, int(round(n * val_fraction)))
    return perm[n_val:], perm[:n_val]


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    seed: int = 0,
    **kwargs,
) -> dict:
    """Fit ``Linear(D, classes)`` with early stopping on validation loss; return
    the test accuracy of the weights with the lowest validation loss.
    (One seed of :func:`fit_linear_heads`; keyword arguments as there.)"""
    x = torch.cat([train_x, val_x])
    y = torch.cat([train_y, val_y])
    n = len(train_x)
    split = (torch.arange(n, device=x.device), torch.arange(n, len(x), device=x.device))
    return fit_linear_heads(x, y, [split], test_x, test_y, seeds=[seed], **kwargs)[0]


def probe_features(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    knn: bool = True,
    *,
    readout: str = "linear",
    **probe_kwargs,
) -> dict:
    """A readout (:data:`~focusmim.evaluation.readouts.READOUTS`; default the paper's linear probe) over several seeds
    (each seed: its own split, init and order), plus kNN on all labeled images."""
    check_readout(readout)
    device = train_feats.device
    train_labels, test_labels = train_labels.to(device), test_labels.to(device)
    splits = [split_labeled(len(train_feats), s) for s in seeds]
    kwargs = {**PROBE_DEFAULTS, **probe_kwargs}
    per_seed = fit_readout(readout, train_feats, train_labels, splits, test_feats, test_labels, seeds=list(seeds),
                           **kwargs)
    accs = torch.tensor([r["accuracy"] for r in per_seed], dtype=torch.float64)
    out = {
        "accuracy_mean": float(accs.mean()),
        "accuracy_std": float(accs.std(unbiased=True)) if len(accs) > 1 else 0.0,
        "accuracies": accs.tolist(),
        "seeds": list(seeds),
        "per_seed": per_seed,
        "n_train": len(train_feats),
        "n_test": len(test_feats),
        "dim": train_feats.shape[1],
    }
    if readout != "linear":
        out["readout"] = readout
    failed = [s for s, r in zip(seeds, per_seed) if r.get("failed")]
    if failed:
        out["failed"] = True
        out["reason"] = f"probe seeds {failed}: " + "; ".join(r["reason"] for r in per_seed if r.get("failed"))
    if knn:
        out["knn_accuracy"] = knn_accuracy(train_feats, train_labels, test_feats, test_labels)
    return out


def _cache_name(which, seeds, kwargs) -> str:
    blob = json.dumps({"which": which, "seeds": list(seeds), **kwargs}, sort_keys=True, default=str)
    return f"probe-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"


def probe_cache_name(which, seeds, readout: str = "linear", *, knn: bool = True, **probe_kwargs) -> str:
    """The file a probe of a run is cached under: the paper's linear probe keeps the name it always had; any
    other readout is part of the name (``hidden`` too for the mlp), so that each readout has its own file.

        >>> probe_cache_name("best", (0, 1, 2, 3, 4))
        'probe-48e9cffcce50.json'
        >>> probe_cache_name("best", (0, 1, 2, 3, 4), "knn") != probe_cache_name("best", (0, 1, 2, 3, 4))
        True
    """
    check_readout(readout)
    extra = {} if readout == "linear" else {"readout": readout}
    hidden = probe_kwargs.pop("hidden", MLP_HIDDEN)  # the mlp's alone
    if readout == "mlp":
        extra["hidden"] = hidden
    return _cache_name(which, seeds, {"knn": knn, **extra, **probe_kwargs})


def evaluate_readouts(run, seeds: Sequence[int] = (0, 1, 2, 3, 4), which="best", readouts: Sequence[str] = READOUTS,
                      *, device: str | None = None, knn: bool = True, feats=None, **probe_kwargs) -> dict[str, dict]:
    """readout -> :func:`evaluate`'s result for each of ``readouts``, each cached in the run's folder under
    :func:`probe_cache_name`; the frozen encoder's features are extracted once, only when one is missing.
    ``feats``: a callable returning the features already extracted (train features, train labels, test
    features, test labels, seconds), e.g. from a file, called only when one is missing."""
    for r in readouts:
        check_readout(r)
    names = {r: probe_cache_name(which, seeds, r, knn=knn, **probe_kwargs) for r in readouts}
    out = {r: run.load_json(n) for r, n in names.items()}
    missing = [r for r in readouts if out[r] is None]
    if not missing:
        return out
    cfg = run.config
    device = torch.device(device or resolve_device(cfg.device))
    model = run.load_model(which, device=str(device))
    if feats is not None:
        ftr, ltr, fte, lte, t_feat = feats()
    else:
        # the probe's splits are never filtered and never need foreground maps
        train = load_for_config(cfg.replace(foreground="none"), "train")
        test = load_for_config(cfg.replace(foreground="none"), "test")
        t0 = time.perf_counter()
        # features in float32 on every device, as the paper's probe took them (training may have used bf16)
        ftr = features(model.encode, train.images, device=device)
        fte = features(model.encode, test.images, device=device)
        ltr, lte, t_feat = train.labels, test.labels, time.perf_counter() - t0
    for r in missing:
        res = probe_features(ftr, ltr, fte, lte, seeds, knn=knn, readout=r, **probe_kwargs)
        res.update(which=which, feature_seconds=t_feat, config_key=cfg.key(), device=str(device),
                   feature_precision="fp32")
        if r != "linear" and getattr(model, "weights_source", None) is not None:  # the zoo's fp16 weights
            res["weights"] = model.weights_source
        run.save_json(names[r], res)
        out[r] = res
    return out


def evaluate(run, seeds: Sequence[int] = (0, 1, 2, 3, 4), which="best", *, readout: str = "linear",
             device: str | None = None, knn: bool = True, **probe_kwargs) -> dict:
    """Probe a stored run's frozen encoder with ``readout`` (default the paper's linear probe); the result is
    cached in the run's folder (:func:`probe_cache_name`)."""
    check_readout(readout)
    return evaluate_readouts(run, seeds, which, (readout,), device=device, knn=knn, **probe_kwargs)[readout]


def raw_pixel_baseline(cfg, seeds: Sequence[int] = (0, 1, 2, 3, 4), *, device: str | None = None,
                       knn: bool = True, run=None, readout: str = "linear", **probe_kwargs) -> dict:
    """The linear probe (or another ``readout``) on raw pixels (the paper's lower reference line).

    With ``run`` (a stored run pretrained on the same data as ``cfg``) the result is
    cached in its folder as ``raw-pixels-<hash>.json`` (hash of seeds, readout and probe
    settings), so a chapter rendered from the run store does not probe 3,072-dim
    pixels again."""
    check_readout(readout)
    if run is not None:
        name = "raw-pixels-" + probe_cache_name("raw", seeds, readout, knn=knn, **probe_kwargs)[len("probe-"):]
        return run.cached_json(name, lambda: raw_pixel_baseline(cfg, seeds, device=device, knn=knn,
                                                                readout=readout, **probe_kwargs))

    device = torch.device(device or resolve_device(cfg.device))
    train = load_for_config(cfg.replace(foreground="none"), "train")
    test = load_for_config(cfg.replace(foreground="none"), "test")
    ident = lambda x: x  # noqa: E731
    ftr = features(ident, train.images, device=device)
    fte = features(ident, test.images, device=device)
    return probe_features(ftr, train.labels, fte, test.labels, seeds, knn=knn, readout=readout, **probe_kwargs)


def linear_head(dim: int, classes: int, generator: torch.Generator) -> torch.nn.Linear:
    """``nn.Linear(dim, classes)`` with weights and bias uniform in ``+-1/sqrt(dim)`` drawn from ``generator``.

        >>> import torch
        >>> a = linear_head(4, 2, torch.Generator().manual_seed(0))
        >>> b = linear_head(4, 2, torch.Generator().manual_seed(0))
        >>> torch.equal(a.weight, b.weight), bool(a.weight.abs().max() <= 0.5)
        (True, True)
    """
    head = torch.nn.Linear(dim, classes)
    with torch.no_grad():
        bound = 1 / math.sqrt(dim)
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.uniform_(-bound, bound, generator=generator)
    return head


def finetune(
    model: torch.nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    val_images: torch.Tensor,
    val_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    seed: int = 0,
    lr: float = 1e-4,
    weight_decay: float = 1e-8,
    batch_size: int = 128,
    patience: int = 3,
    max_epochs: int = 50,
    device: str | torch.device = "cpu",
) -> dict:
    """End-to-end fine-tuning: a copy of ``model``'s encoder plus global average
    pooling and a linear head, trained with Adam on uint8 images, early stopping on
    validation loss; returns the test accuracy of the best-validation weights.

    ``model`` is not changed (a deep copy is trained). ``model.encode`` must return a
    feature map (B,C,h,w) (pooled to C) or features (B,D).

    Example:
        >>> import torch
        >>> from focusmim.models import build
        >>> _ = torch.manual_seed(0)  # the model's initialisation
        >>> y = torch.arange(48) % 2
        >>> x = (y.view(-1, 1, 1, 1).float() * 200 + 20).expand(48, 3, 16, 16).to(torch.uint8).clone()
        >>> res = finetune(build("autoencoder", width=0.25), x[:32], y[:32], x[32:40], y[32:40], x[40:], y[40:],
        ...                lr=1e-3, max_epochs=5, patience=5)
        >>> res["accuracy"]
        1.0
    """
    import copy

    for name, v in dict(lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: a positive number")
    for name, v in dict(train_images=train_images, val_images=val_images, test_images=test_images).items():
        if not isinstance(v, torch.Tensor) or v.dtype != torch.uint8 or v.dim() != 4:
            raise ValueError(f"{name} must be uint8 (N,3,H,W); allowed: ImageSet.images")
    device = torch.device(device)
    torch.manual_seed(seed)  # only for modules that draw at construction; the head below uses g
    g = torch.Generator().manual_seed(seed)
    enc = copy.deepcopy(getattr(model, "_orig_mod", model)).to(device).train()
    classes = int(max(train_labels.max(), val_labels.max(), test_labels.max())) + 1
    with torch.no_grad():
        z = enc.encode(train_images[:2].to(device).float().div(255))
    dim = z.shape[1]
    head = linear_head(dim, classes, g).to(device)

    def logits(x_uint8):
        z = enc.encode(x_uint8.to(device).float().div(255))
        z = z.mean(dim=(2, 3)) if z.dim() == 4 else z.flatten(1)
        return head(z.float())

    @torch.no_grad()
    def evaluate_split(xs, ys):
        enc.eval()
        loss, correct = 0.0, 0
        for i in range(0, len(xs), 256):
            out = logits(xs[i:i + 256])
            yy = ys[i:i + 256].to(device)
            loss += float(F.cross_entropy(out, yy, reduction="sum"))
            correct += int((out.argmax(1) == yy).sum())
        enc.train()
        return loss / len(xs), correct / len(xs)

    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best, best_state, best_epoch, wait, epoch = math.inf, None, 0, 0, 0
    t0 = time.perf_counter()
    n = len(train_images)
    for epoch in range(1, max_epochs + 1):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(logits(train_images[idx]), train_labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val_loss, _ = evaluate_split(val_images, val_labels)
        if val_loss < best - 1e-4:
            best, best_epoch, wait = val_loss, epoch, 0
            best_state = (copy.deepcopy(enc.state_dict()), copy.deepcopy(head.state_dict()))
        else:
            wait += 1
            if wait >= patience:
                break
    enc.load_state_dict(best_state[0])
    head.load_state_dict(best_state[1])
    _, acc = evaluate_split(test_images, test_labels)
    return {"accuracy": acc, "val_loss": best, "best_epoch": best_epoch, "epochs": epoch,
            "seconds": time.perf_counter() - t0, "lr": lr}
