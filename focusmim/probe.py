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

__all__ = [
    "features",
    "inference_batch_size",
    "split_labeled",
    "linear_probe",
    "fit_linear_heads",
    "knn_accuracy",
    "probe_features",
    "evaluate",
    "raw_pixel_baseline",
    "PROBE_DEFAULTS",
    "finetune",
    "linear_head",
]

PROBE_DEFAULTS = dict(lr=1e-4, weight_decay=1e-8, batch_size=None, patience=10, min_delta=1e-4, max_epochs=1000)


def probe_batch_size(n_train: int) -> int:
    """The paper's batch of 512 for its 4,000 training images (8 steps per epoch);
    smaller labeled sets keep about 8 steps per epoch, so that early stopping
    (patience 10 epochs) does not fire after a handful of optimiser steps."""
    return 512 if n_train >= 4000 else max(16, n_train // 8)


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


def fit_linear_heads(
    x: torch.Tensor,
    y: torch.Tensor,
    splits: Sequence[tuple[torch.Tensor, torch.Tensor]],
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    seeds: Sequence[int],
    lr: float = 1e-4,
    weight_decay: float = 1e-8,
    batch_size: int | None = None,
    patience: int = 10,
    min_delta: float = 1e-4,
    max_epochs: int = 1000,
) -> list[dict]:
    """Train one linear head per seed, all at once (batched matrix products).

    Seed ``s`` uses ``splits[s]`` = (train indices, validation indices) into
    ``x``, its own initialisation and batch order, and stops on its own when its
    validation loss has not improved by ``min_delta`` for ``patience`` epochs.
    Adam and the loss are per-element and per-head, so this is the same
    computation as fitting the heads one after another, in a fraction of the
    kernel launches. Returns one result dict per seed.
    """
    if len(splits) != len(seeds) or not seeds:
        raise ValueError(f"need one split per seed; got {len(splits)} splits for seeds={list(seeds)}")
    n_tr = len(splits[0][0])
    if any(len(tr) != n_tr or len(va) != len(splits[0][1]) for tr, va in splits):
        raise ValueError("every seed's split must have the same train and validation sizes")
    batch_size = probe_batch_size(n_tr) if batch_size is None else batch_size
    for name, v in dict(lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience).items():
        if not v > 0:
            raise ValueError(f"{name}={v} is not allowed; allowed: a positive number")
    device, d = x.device, x.shape[1]
    classes = int(max(y.max(), test_y.max())) + 1
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    bound = 1 / math.sqrt(d)
    w = torch.stack([torch.empty(classes, d).uniform_(-bound, bound, generator=g) for g in gens])
    b = torch.stack([torch.empty(classes).uniform_(-bound, bound, generator=g) for g in gens])
    w = w.transpose(1, 2).contiguous().to(device).requires_grad_()  # (S, D, C)
    b = b.to(device).requires_grad_()  # (S, C)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    tr_idx = torch.stack([tr.to(device) for tr, _ in splits])  # (S, n_tr)
    va_idx = torch.stack([va.to(device) for _, va in splits])
    S = len(seeds)
    xv, yv = x[va_idx], y[va_idx].reshape(-1)  # validation features gathered once, not every epoch
    best = [math.inf] * S
    best_state = [None] * S
    best_epoch, wait, stopped_at = [0] * S, [0] * S, [0] * S
    t0 = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        order = torch.stack([torch.randperm(n_tr, generator=g) for g in gens]).to(device)
        perm = torch.gather(tr_idx, 1, order)
        for i in range(0, n_tr, batch_size):
            idx = perm[:, i:i + batch_size]
            logits = torch.baddbmm(b.unsqueeze(1), x[idx], w)  # (S, B, C)
            loss = F.cross_entropy(logits.reshape(-1, classes), y[idx].reshape(-1), reduction="none")
            loss = loss.view(S, -1).mean(1).sum()  # each head gets the gradient of its own mean loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            vlog = torch.baddbmm(b.unsqueeze(1), xv, w)
            vloss = F.cross_entropy(vlog.reshape(-1, classes), yv, reduction="none")
            vloss = vloss.view(S, -1).mean(1).tolist()
        for s in range(S):
            if stopped_at[s]:
                continue
            if vloss[s] < best[s] - min_delta:
                best[s], best_epoch[s], wait[s] = vloss[s], epoch, 0
                best_state[s] = (w[s].detach().clone(), b[s].detach().clone())
            else:
                wait[s] += 1
                if wait[s] >= patience:
                    stopped_at[s] = epoch
        if all(stopped_at):
            break
    seconds = time.perf_counter() - t0
    out = []
    with torch.no_grad():
        for s in range(S):
            ws, bs_ = best_state[s]
            acc = float(((test_x @ ws + bs_).argmax(1) == test_y).float().mean())
            tr = tr_idx[s]
            train_acc = float(((x[tr] @ ws + bs_).argmax(1) == y[tr]).float().mean())
            val_acc = float(((xv[s] @ ws + bs_).argmax(1) == y[va_idx[s]]).float().mean())
            out.append({"accuracy": acc, "train_accuracy": train_acc, "val_accuracy": val_acc, "val_loss": best[s],
                        "best_epoch": best_epoch[s], "epochs": stopped_at[s] or epoch, "seconds": seconds / S})
    return out


@torch.no_grad()
def knn_accuracy(train_x, train_y, test_x, test_y, k: int = 20, batch_size: int = 1024) -> float:
    """Cosine-similarity k-nearest-neighbour accuracy (majority vote weighted by similarity)."""
    if k < 1:
        raise ValueError(f"k={k} is not allowed; allowed: a whole number >= 1")
    k = min(k, len(train_x))
    a = F.normalize(train_x.float(), dim=1)
    classes = int(train_y.max()) + 1
    correct = 0
    for i in range(0, len(test_x), batch_size):
        b = F.normalize(test_x[i:i + batch_size].float(), dim=1)
        sim, idx = (b @ a.T).topk(k, dim=1)
        votes = torch.zeros(len(b), classes, device=b.device).scatter_add_(1, train_y[idx], sim.exp())
        correct += int((votes.argmax(1) == test_y[i:i + batch_size]).sum())
    return correct / len(test_x)


def probe_features(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    knn: bool = True,
    **probe_kwargs,
) -> dict:
    """Linear probe over several seeds (each seed: its own split, init and order), plus kNN."""
    device = train_feats.device
    train_labels, test_labels = train_labels.to(device), test_labels.to(device)
    splits = [split_labeled(len(train_feats), s) for s in seeds]
    per_seed = fit_linear_heads(train_feats, train_labels, splits, test_feats, test_labels, seeds=list(seeds),
                                **{**PROBE_DEFAULTS, **probe_kwargs})
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
    if knn:
        out["knn_accuracy"] = knn_accuracy(train_feats, train_labels, test_feats, test_labels)
    return out


def _cache_name(which, seeds, kwargs) -> str:
    blob = json.dumps({"which": which, "seeds": list(seeds), **kwargs}, sort_keys=True, default=str)
    return f"probe-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"


def evaluate(run, seeds: Sequence[int] = (0, 1, 2, 3, 4), which="best", *, device: str | None = None,
             knn: bool = True, **probe_kwargs) -> dict:
    """Probe a stored run's frozen encoder; the result is cached in the run's folder."""
    name = _cache_name(which, seeds, {"knn": knn, **probe_kwargs})
    cached = run.load_json(name)
    if cached is not None:
        return cached
    cfg = run.config
    device = torch.device(device or resolve_device(cfg.device))
    model = run.load_model(which, device=str(device))
    # the probe's splits are never filtered and never need foreground maps
    train = load_for_config(cfg.replace(foreground="none"), "train")
    test = load_for_config(cfg.replace(foreground="none"), "test")
    t0 = time.perf_counter()
    # features in float32 on every device, as the paper's probe took them (training may have used bf16)
    ftr = features(model.encode, train.images, device=device)
    fte = features(model.encode, test.images, device=device)
    t_feat = time.perf_counter() - t0
    res = probe_features(ftr, train.labels, fte, test.labels, seeds, knn=knn, **probe_kwargs)
    res.update(which=which, feature_seconds=t_feat, config_key=cfg.key(), device=str(device),
               feature_precision="fp32")
    run.save_json(name, res)
    return res


def raw_pixel_baseline(cfg, seeds: Sequence[int] = (0, 1, 2, 3, 4), *, device: str | None = None,
                       knn: bool = True, run=None, **probe_kwargs) -> dict:
    """The linear probe on raw pixels (the paper's lower reference line).

    With ``run`` (a stored run pretrained on the same data as ``cfg``) the result is
    cached in its folder as ``raw-pixels-<hash>.json`` (hash of seeds and probe
    settings), so a chapter rendered from the run store does not probe 3,072-dim
    pixels again."""
    if run is not None:
        name = "raw-pixels-" + _cache_name("raw", seeds, {"knn": knn, **probe_kwargs})[len("probe-"):]
        return run.cached_json(name, lambda: raw_pixel_baseline(cfg, seeds, device=device, knn=knn, **probe_kwargs))

    device = torch.device(device or resolve_device(cfg.device))
    train = load_for_config(cfg.replace(foreground="none"), "train")
    test = load_for_config(cfg.replace(foreground="none"), "test")
    ident = lambda x: x  # noqa: E731
    ftr = features(ident, train.images, device=device)
    fte = features(ident, test.images, device=device)
    return probe_features(ftr, train.labels, fte, test.labels, seeds, knn=knn, **probe_kwargs)


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
