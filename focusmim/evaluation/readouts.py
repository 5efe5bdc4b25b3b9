"""Readouts of frozen features: the paper's linear probe and three others, all fitted per probe seed.

A readout turns cached features ``x`` (N, D) with labels, one (train, validation) index split per probe
seed, and the test features into one result dict per seed (``accuracy``, ``train_accuracy``,
``val_accuracy`` where meaningful). :data:`READOUTS`:

* ``linear``: the paper's probe (:func:`fit_linear_heads`: Adam lr 1e-4, wd 1e-8, batch 512, early
  stopping on validation loss, raw features). The book's default; its results and cache names never change.
* ``linear_std``: the same probe on features standardised with the statistics of that seed's *training*
  split only (:func:`standardise`): validation and test rows never enter the mean and std.
* ``knn``: k = 20 nearest neighbours by cosine similarity (:func:`knn_accuracy`), the neighbours taken
  from that seed's training split; no training accuracy (every training image is its own neighbour).
* ``mlp``: one hidden layer (``hidden`` ReLU units, default :data:`MLP_HIDDEN`) with the probe's optimiser,
  batch and early stopping (:func:`fit_heads`).

A linear head that learns nothing (train accuracy near chance, validation loss never below ln(classes))
is not a result: :func:`fit_linear_heads` detects it (:func:`stuck`), refits that seed on standardised
features, and says so in one warning and in the result (``retry``, or ``failed`` with a ``reason``).

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.arange(500) % 4
    >>> x = torch.randn(500, 8, generator=g) + 3 * torch.nn.functional.one_hot(y, 8)
    >>> splits = [(torch.arange(80, 400), torch.arange(0, 80))]
    >>> [round(fit_readout(r, x[:400], y[:400], splits, x[400:], y[400:], seeds=[0], lr=1e-2)[0]["accuracy"], 1)
    ...  for r in READOUTS]
    [1.0, 1.0, 1.0, 1.0]
    >>> check_readout("svm")
    Traceback (most recent call last):
    ...
    ValueError: readout='svm' is not allowed; allowed: linear, linear_std, knn, mlp
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["READOUTS", "MLP_HIDDEN", "check_readout", "probe_batch_size", "fit_heads", "fit_linear_heads",
           "knn_accuracy", "knn_heads", "standardise", "fit_readout", "stuck", "ProbeFailure"]

READOUTS = ("linear", "linear_std", "knn", "mlp")
MLP_HIDDEN = 128  # the mlp readout's hidden units (18,432-dim features x 128 = 2.4M weights a head, 13x the linear head's; fits 2 CPU cores)
KNN_K = 20
# a head "learned nothing" when its train accuracy is below this multiple of chance ...
STUCK_TRAIN = 1.5
# ... and its best validation loss is within this fraction of ln(classes), the loss of uniform logits
STUCK_LOSS = 0.01


class ProbeFailure(UserWarning):
    """A probe head that learned nothing (see :func:`stuck`)."""


def check_readout(readout) -> str:
    """``readout`` if it is one of :data:`READOUTS`, else a one-line ``ValueError`` naming the allowed ones."""
    if readout not in READOUTS:
        raise ValueError(f"readout={readout!r} is not allowed; allowed: {', '.join(READOUTS)}")
    return readout


def probe_batch_size(n_train: int) -> int:
    """The paper's batch of 512 for its 4,000 training images (8 steps per epoch);
    smaller labeled sets keep about 8 steps per epoch, so that early stopping
    (patience 10 epochs) does not fire after a handful of optimiser steps."""
    return 512 if n_train >= 4000 else max(16, n_train // 8)


def standardise(x: torch.Tensor, train_idx: torch.Tensor, *others: torch.Tensor, eps: float = 1e-6):
    """``x`` (and ``others``, e.g. test features) standardised with the mean and std of ``x[train_idx]``
    only; a feature constant on the training rows is only centred.

        >>> x = torch.tensor([[0.0], [2.0], [1e6]])
        >>> standardise(x, torch.tensor([0, 1])).flatten().tolist()
        [-1.0, 1.0, 999999.0]
    """
    tr = x[train_idx]
    mean = tr.mean(0)
    std = tr.std(0, unbiased=False)
    std = torch.where(std > eps, std, torch.ones_like(std))
    out = [(t - mean) / std for t in (x, *others)]
    return out[0] if not others else tuple(out)


def stuck(res: dict, classes: int) -> str:
    """Why a fitted head learned nothing (``""`` when it learned): its train accuracy stays below
    :data:`STUCK_TRAIN` x chance and its best validation loss never moved below ln(classes) by more than
    :data:`STUCK_LOSS` of it (uniform logits score exactly ln(classes)).

        >>> stuck({"train_accuracy": 0.102, "val_loss": 2.3013}, 10)
        'train accuracy 10.2 % (chance 10.0 %) and validation loss 2.3013 never below ln(10) = 2.3026'
        >>> stuck({"train_accuracy": 0.45, "val_loss": 1.7}, 10)
        ''
    """
    chance, floor = 1 / classes, math.log(classes)
    if res["train_accuracy"] < STUCK_TRAIN * chance and res["val_loss"] > floor * (1 - STUCK_LOSS):
        return (f"train accuracy {100 * res['train_accuracy']:.1f} % (chance {100 * chance:.1f} %) and validation "
                f"loss {res['val_loss']:.4f} never below ln({classes}) = {floor:.4f}")
    return ""


def fit_linear_heads(x, y, splits, test_x, test_y, *, seeds, retry: bool = True, **kwargs) -> list[dict]:
    """Train one linear head per seed, all at once (batched matrix products).

    Seed ``s`` uses ``splits[s]`` = (train indices, validation indices) into
    ``x``, its own initialisation and batch order, and stops on its own when its
    validation loss has not improved by ``min_delta`` for ``patience`` epochs.
    Adam and the loss are per-element and per-head, so this is the same
    computation as fitting the heads one after another, in a fraction of the
    kernel launches. Returns one result dict per seed (keyword arguments: :func:`fit_heads`).

    A head that learned nothing (:func:`stuck`) is refitted, with ``retry``, on features standardised with
    its training split's statistics (raw features whose scale is tiny or huge against Adam's step leave the
    logits uniform until early stopping fires); one warning says so, and its result keeps the first fit's
    numbers under ``first_fit`` and the reason under ``retry``. A head still stuck after that (or without
    ``retry``) says ``failed: True`` with its ``reason``. Heads that learn are never touched.
    """
    out = fit_heads(x, y, splits, test_x, test_y, seeds=seeds, **kwargs)
    classes = int(max(y.max(), test_y.max())) + 1
    for i, (s, res) in enumerate(zip(seeds, out)):
        why = stuck(res, classes)
        if not why:
            continue
        if retry:
            tr, va = splits[i]
            xs, ts = standardise(x, tr.to(x.device), test_x)
            again = fit_heads(xs, y, [splits[i]], ts, test_y, seeds=[s], **kwargs)[0]
            still = stuck(again, classes)
            first = {k: res[k] for k in ("accuracy", "train_accuracy", "val_accuracy", "val_loss", "epochs")}
            out[i] = res = {**again, "first_fit": first,
                            "retry": f"refitted on standardised features: the raw-feature head learned nothing ({why})"}
            warnings.warn(f"linear probe seed {s}: {why}; refitted on standardised features: accuracy "
                          f"{100 * first['accuracy']:.1f} % -> {100 * again['accuracy']:.1f} %"
                          + (f", still stuck ({still})" if still else ""), ProbeFailure, stacklevel=2)
            why = still
        else:
            warnings.warn(f"linear probe seed {s}: {why}", ProbeFailure, stacklevel=2)
        if why:
            res.update(failed=True, reason=why)
    return out


def fit_heads(
    x: torch.Tensor,
    y: torch.Tensor,
    splits: Sequence[tuple[torch.Tensor, torch.Tensor]],
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    seeds: Sequence[int],
    hidden: int | None = None,
    lr: float = 1e-4,
    weight_decay: float = 1e-8,
    batch_size: int | None = None,
    patience: int = 10,
    min_delta: float = 1e-4,
    max_epochs: int = 1000,
) -> list[dict]:
    """One head per seed fitted at once: ``Linear(D, classes)`` (``hidden=None``) or ``Linear(D, hidden),
    ReLU, Linear(hidden, classes)``; Adam, early stopping on validation loss, the weights with the lowest
    validation loss scored on the test split. Initialisation as ``torch.nn.Linear`` (uniform in
    +-1/sqrt(fan_in)), drawn from ``torch.Generator().manual_seed(seed)``."""
    if len(splits) != len(seeds) or not seeds:
        raise ValueError(f"need one split per seed; got {len(splits)} splits for seeds={list(seeds)}")
    n_tr = len(splits[0][0])
    if any(len(tr) != n_tr or len(va) != len(splits[0][1]) for tr, va in splits):
        raise ValueError("every seed's split must have the same train and validation sizes")
    batch_size = probe_batch_size(n_tr) if batch_size is None else batch_size
    for name, v in dict(lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience).items():
        if not v > 0:
            raise ValueError(f"{name}={v} is not allowed; allowed: a positive number")
    if hidden is not None and not (isinstance(hidden, int) and hidden > 0):
        raise ValueError(f"hidden={hidden!r} is not allowed; allowed: a whole number > 0, or None (linear)")
    device, d = x.device, x.shape[1]
    classes = int(max(y.max(), test_y.max())) + 1
    gens = [torch.Generator().manual_seed(s) for s in seeds]

    def layer(fan_in, fan_out):  # (S, fan_in, fan_out) weights and (S, fan_out) biases, nn.Linear's init
        bound = 1 / math.sqrt(fan_in)
        w = torch.stack([torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=g) for g in gens])
        b = torch.stack([torch.empty(fan_out).uniform_(-bound, bound, generator=g) for g in gens])
        return [w.transpose(1, 2).contiguous().to(device).requires_grad_(), b.to(device).requires_grad_()]

    params = layer(d, classes) if hidden is None else layer(d, hidden) + layer(hidden, classes)

    def forward(p, xb):  # batched over seeds: xb (S, B, D) -> (S, B, C)
        if hidden is None:
            return torch.baddbmm(p[1].unsqueeze(1), xb, p[0])
        return torch.baddbmm(p[3].unsqueeze(1), torch.relu(torch.baddbmm(p[1].unsqueeze(1), xb, p[0])), p[2])

    def apply(state, xs):  # one seed's weights on (N, D)
        if hidden is None:
            return xs @ state[0] + state[1]
        return torch.relu(xs @ state[0] + state[1]) @ state[2] + state[3]

    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
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
            logits = forward(params, x[idx])  # (S, B, C)
            loss = F.cross_entropy(logits.reshape(-1, classes), y[idx].reshape(-1), reduction="none")
            loss = loss.view(S, -1).mean(1).sum()  # each head gets the gradient of its own mean loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            vlog = forward(params, xv)
            vloss = F.cross_entropy(vlog.reshape(-1, classes), yv, reduction="none")
            vloss = vloss.view(S, -1).mean(1).tolist()
        for s in range(S):
            if stopped_at[s]:
                continue
            if vloss[s] < best[s] - min_delta:
                best[s], best_epoch[s], wait[s] = vloss[s], epoch, 0
                best_state[s] = tuple(p[s].detach().clone() for p in params)
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
            st = best_state[s]
            acc = float((apply(st, test_x).argmax(1) == test_y).float().mean())
            tr = tr_idx[s]
            train_acc = float((apply(st, x[tr]).argmax(1) == y[tr]).float().mean())
            val_acc = float((apply(st, xv[s]).argmax(1) == y[va_idx[s]]).float().mean())
            out.append({"accuracy": acc, "train_accuracy": train_acc, "val_accuracy": val_acc, "val_loss": best[s],
                        "best_epoch": best_epoch[s], "epochs": stopped_at[s] or epoch, "seconds": seconds / S})
    return out


@torch.no_grad()
def knn_accuracy(train_x, train_y, test_x, test_y, k: int = KNN_K, batch_size: int = 1024) -> float:
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


def knn_heads(x, y, splits, test_x, test_y, *, seeds, k: int = KNN_K) -> list[dict]:
    """The kNN readout per seed: neighbours from that seed's training split, scored on its validation split
    and on the test split (no training accuracy: every training image is its own nearest neighbour)."""
    out = []
    for s, (tr, va) in zip(seeds, splits):
        t0 = time.perf_counter()
        tr, va = tr.to(x.device), va.to(x.device)
        out.append({"accuracy": knn_accuracy(x[tr], y[tr], test_x, test_y, k),
                    "val_accuracy": knn_accuracy(x[tr], y[tr], x[va], y[va], k), "k": k,
                    "seconds": time.perf_counter() - t0})
    return out


def fit_readout(readout: str, x, y, splits, test_x, test_y, *, seeds, hidden: int = MLP_HIDDEN,
                **probe_kwargs) -> list[dict]:
    """One result dict per seed for ``readout`` (one of :data:`READOUTS`) on features ``x`` (labels ``y``)
    with one (train, validation) split per seed; ``probe_kwargs`` go to :func:`fit_heads` (not to kNN)."""
    check_readout(readout)
    if readout == "linear":
        return fit_linear_heads(x, y, splits, test_x, test_y, seeds=seeds, **probe_kwargs)
    if readout == "knn":
        return knn_heads(x, y, splits, test_x, test_y, seeds=seeds)
    if readout == "mlp":
        return fit_heads(x, y, splits, test_x, test_y, seeds=seeds, hidden=hidden, **probe_kwargs)
    out = []  # linear_std: each seed's own training statistics, so one fit per seed
    for s, split in zip(seeds, splits):
        xs, ts = standardise(x, split[0].to(x.device), test_x)
        out += fit_linear_heads(xs, y, [split], ts, test_y, seeds=[s], **probe_kwargs)
        del xs, ts
    return out
