"""Linear-probe time: focusmim's cached features versus re-running the encoder every epoch.

focusmim (:mod:`focusmim.evaluation.probe`) encodes the labeled and test images once and fits the
linear head on the cached features. The reference re-runs the frozen encoder on the
training and validation images in every probe epoch (up to 1,000 epochs with early
stopping). This script:

1. pretrains the paper's autoencoder for one epoch on a small synthetic set at 96 px
   (:func:`focusmim.training.train.pretrain`, temporary run store) -- any weights time the same;
2. runs both probes for the same fixed number of epochs (``--epochs``, default 10), with the
   same split, initialisation and batch order, and checks that they reach the same accuracy;
3. runs focusmim's probe to its early stop and extrapolates the reference's time to that
   epoch: ``T_ref = epochs_stop * (reference seconds per epoch) + test encoding``;
4. times the paper's protocol, five probe seeds: focusmim encodes once and fits the five heads
   together (as :func:`focusmim.evaluation.probe.evaluate` does), the reference runs five probes in turn,
   each to its own early stop (extrapolated from its measured seconds per epoch);
5. prints the times and ratios (target: >= 20x) and writes ``benchmarks/results/probe-<device>-<date>.json``.

Usage:
    python benchmarks/bench_probe.py                  # ~3 min on 2 CPU cores
    python benchmarks/bench_probe.py --n-labeled 5000 --n-test 8000 --device cuda
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from focusmim import data  # noqa: E402
from focusmim.config import make_config  # noqa: E402
from focusmim.evaluation.probe import (PROBE_DEFAULTS, features, fit_linear_heads, linear_head, linear_probe,  # noqa: E402
                            probe_batch_size, split_labeled)
from focusmim.store.runs import RunStore  # noqa: E402
from focusmim.training.train import pretrain  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_probe(encode, images, labels, tr, va, test_images, test_labels, *, seed, epochs, device,
                    batch_size=None, lr=1e-4, weight_decay=1e-8, patience=10, min_delta=1e-4) -> dict:
    """The reference's probe: the frozen encoder runs on every batch of every epoch.

    Same split, initialisation, batch order and early-stopping rule as
    :func:`focusmim.evaluation.probe.linear_probe`, so the accuracy must agree; only the features
    are recomputed instead of cached.
    """
    if epochs < 1:
        raise ValueError(f"epochs={epochs} is not allowed; allowed: a whole number >= 1")

    def enc(idx_images):
        with torch.no_grad():
            x = idx_images.to(device).float().div_(255)
            return encode(x).float().reshape(len(x), -1)

    batch_size = probe_batch_size(len(tr)) if batch_size is None else batch_size
    d = int(torch.tensor(encode(images[:1].to(device).float().div(255)).shape[1:]).prod())
    classes = int(max(labels.max(), test_labels.max())) + 1
    g = torch.Generator().manual_seed(seed)
    head = linear_head(d, classes, g).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    labels = labels.to(device)
    train_imgs, train_y = images[tr], labels[tr.to(device)]
    val_imgs, val_y = images[va], labels[va.to(device)]
    n = len(train_imgs)
    best, best_state, wait, epoch = math.inf, None, 0, 0
    sync(device)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(head(enc(train_imgs[idx])), train_y[idx.to(device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            val_loss = float(F.cross_entropy(
                torch.cat([head(enc(val_imgs[i:i + batch_size])) for i in range(0, len(val_imgs), batch_size)]),
                val_y))
        if val_loss < best - min_delta:
            best, wait = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            wait += 1
            if wait >= patience:
                break
    sync(device)
    t_epochs = time.perf_counter() - t0
    head.load_state_dict(best_state)
    t1 = time.perf_counter()
    with torch.no_grad():
        pred = torch.cat([head(enc(test_images[i:i + batch_size])).argmax(1)
                          for i in range(0, len(test_images), batch_size)])
    sync(device)
    t_test = time.perf_counter() - t1
    acc = float((pred == test_labels.to(device)).float().mean())
    return {"accuracy": acc, "val_loss": best, "epochs": epoch, "seconds_epochs": t_epochs, "seconds_per_epoch": t_epochs / epoch,
            "seconds_test": t_test}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--n-labeled", type=int, default=500, help="labeled images, split 4:1 train/val (paper: 5000)")
    p.add_argument("--n-test", type=int, default=500, help="test images (paper: 8000)")
    p.add_argument("--epochs", type=int, default=10, help="probe epochs run both ways")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=1, help="epochs of the model probed (timing barely "
                   "depends on it; the early-stopping epoch, hence the projected ratio, does)")
    p.add_argument("--n-unlabeled", type=int, default=128, help="synthetic pretraining images")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    for name in ("n_labeled", "n_test", "epochs", "pretrain_epochs", "n_unlabeled"):
        if getattr(args, name) < (10 if name == "n_labeled" else 1):
            p.error(f"--{name.replace('_', '-')} is too small")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA GPU is visible; allowed here: --device cpu")
    device = torch.device(args.device)

    # 1. a pretrained model (the real training path, temporary store)
    cuda = args.device == "cuda"
    cfg = make_config("smoke", image_size=args.image_size, width=1.0, masker="random_patches",
                      epochs=args.pretrain_epochs, n_unlabeled=args.n_unlabeled, n_test=64,
                      batch_size=512 if cuda else 64, amp=cuda, device=args.device)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = pretrain(cfg, RunStore(tmp), progress=False)
        model = run.load_model("best").to(device).eval()
    print(f"pretrained {cfg.epochs} epochs ({cfg.n_unlabeled} images, {args.image_size} px) in {time.perf_counter() - t:.0f} s",
          flush=True)
    train = data.load("synthetic", "train", image_size=args.image_size, n=args.n_labeled, seed=0)
    test = data.load("synthetic", "test", image_size=args.image_size, n=args.n_test, seed=0)
    tr, va = split_labeled(len(train), args.seed)

    # 2a. focusmim: features once, then the head on cached features (fixed epochs, no early stop)
    def focusmim_probe(max_epochs, patience):
        sync(device)
        t0 = time.perf_counter()
        ftr = features(model.encode, train.images, device=device)
        fte = features(model.encode, test.images, device=device)
        sync(device)
        t_feat = time.perf_counter() - t0
        y, yt = train.labels.to(device), test.labels.to(device)
        trd, vad = tr.to(device), va.to(device)
        kw = {**PROBE_DEFAULTS, "max_epochs": max_epochs, "patience": patience}
        res = linear_probe(ftr[trd], y[trd], ftr[vad], y[vad], fte, yt, seed=args.seed, **kw)
        sync(device)
        res["seconds_total"] = time.perf_counter() - t0
        res["seconds_features"] = t_feat
        return res

    fixed_f = focusmim_probe(args.epochs, patience=10**9)
    print(f"focusmim, {args.epochs} epochs: {fixed_f['seconds_total']:.2f} s "
          f"(features {fixed_f['seconds_features']:.2f} s), accuracy {fixed_f['accuracy']:.4f}", flush=True)
    # 2b. the reference, the same epochs
    fixed_r = reference_probe(model.encode, train.images, train.labels, tr, va, test.images, test.labels,
                              seed=args.seed, epochs=args.epochs, device=device, patience=10**9)
    t_ref_fixed = fixed_r["seconds_epochs"] + fixed_r["seconds_test"]
    print(f"reference, {args.epochs} epochs: {t_ref_fixed:.2f} s ({fixed_r['seconds_per_epoch']:.2f} s per epoch), "
          f"accuracy {fixed_r['accuracy']:.4f}", flush=True)
    # same model up to float rounding (conv results depend slightly on batch composition):
    # the best validation losses agree closely and the accuracies within 2 points
    same = (abs(fixed_f["val_loss"] - fixed_r["val_loss"]) <= 1e-3 * abs(fixed_r["val_loss"])
            and abs(fixed_f["accuracy"] - fixed_r["accuracy"]) <= 0.02)

    # 3. focusmim to its early stop; the reference extrapolated to the same epoch
    full_f = focusmim_probe(PROBE_DEFAULTS["max_epochs"], PROBE_DEFAULTS["patience"])
    stop = full_f["epochs"]
    t_ref_full = stop * fixed_r["seconds_per_epoch"] + fixed_r["seconds_test"]
    ratio_fixed = t_ref_fixed / fixed_f["seconds_total"]
    ratio_full = t_ref_full / full_f["seconds_total"]
    print(f"\nsame result after {args.epochs} epochs: {same} (accuracy {fixed_f['accuracy']:.4f} vs "
          f"{fixed_r['accuracy']:.4f}, best val loss {fixed_f['val_loss']:.6f} vs {fixed_r['val_loss']:.6f})")
    print(f"{args.epochs} epochs both ways: focusmim {fixed_f['seconds_total']:.2f} s, reference {t_ref_fixed:.2f} s "
          f"-> {ratio_fixed:.1f}x")
    print(f"to early stopping (epoch {stop}, accuracy {full_f['accuracy']:.4f}): focusmim {full_f['seconds_total']:.2f} s "
          f"measured, reference {t_ref_full:.0f} s extrapolated -> {ratio_full:.0f}x (target >= 20x)")
    # projection to the paper's sizes (4,000 train / 1,000 val / 8,000 test) from per-image
    # encoder time and per-step head time measured above
    n_lab, n_test = len(tr) + len(va), len(test)
    t_img = fixed_f["seconds_features"] / (n_lab + n_test)
    steps_small = math.ceil(len(tr) / probe_batch_size(len(tr)))
    t_head_step = fixed_f["seconds"] / (args.epochs * steps_small)
    paper_steps = math.ceil(4000 / probe_batch_size(4000))

    def paper_ratio(e):
        ref_t = e * (5000 * t_img + paper_steps * t_head_step) + 8000 * t_img
        fm_t = 13000 * t_img + e * paper_steps * t_head_step
        return ref_t / fm_t

    # 4. the paper's protocol: five probe seeds (own split, initialisation and order each).
    # focusmim encodes once and fits the five heads together (focusmim.evaluation.probe.evaluate does this);
    # the reference runs five probes one after another, each re-encoding every epoch until its
    # own early stop (the same stopping rule: the epochs are those focusmim's heads stopped at).
    seeds5 = [args.seed + i for i in range(5)]
    sync(device)
    t0 = time.perf_counter()
    ftr = features(model.encode, train.images, device=device)
    fte = features(model.encode, test.images, device=device)
    splits = [tuple(t.to(device) for t in split_labeled(len(train), s)) for s in seeds5]
    heads = fit_linear_heads(ftr, train.labels.to(device), splits, fte, test.labels.to(device), seeds=seeds5,
                             **PROBE_DEFAULTS)
    sync(device)
    t_five = time.perf_counter() - t0
    stops5 = [h["epochs"] for h in heads]
    t_ref_five = sum(e * fixed_r["seconds_per_epoch"] + fixed_r["seconds_test"] for e in stops5)
    ratio_five = t_ref_five / t_five
    print(f"five probe seeds (the paper's protocol): focusmim {t_five:.2f} s measured (stops at epochs {stops5}, "
          f"accuracy {sum(h['accuracy'] for h in heads) / 5:.4f}), reference {t_ref_five:.0f} s extrapolated "
          f"-> {ratio_five:.0f}x (target >= 20x)")
    need = next((e for e in range(1, 1001) if paper_ratio(e) >= 20), None)
    print(f"paper sizes (5,000 labeled, 8,000 test), projected: {paper_ratio(stop):.1f}x at epoch {stop}, "
          f"{paper_ratio(100):.0f}x at 100 epochs, {paper_ratio(1000):.0f}x at 1,000; >= 20x from epoch {need}")
    result = {"device": str(device), "date": time.strftime("%Y-%m-%d %H:%M"), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "image_size": args.image_size, "n_labeled": args.n_labeled,
              "n_test": args.n_test, "pretrain_epochs": args.pretrain_epochs, "n_unlabeled": args.n_unlabeled,
              "pretrain_images_per_s": run.metrics.get("images_per_s"), "epochs_fixed": args.epochs, "focusmim_fixed": fixed_f,
              "reference_fixed": fixed_r, "same_accuracy": same, "ratio_fixed": ratio_fixed,
              "focusmim_early_stop": full_f, "early_stop_epoch": stop, "reference_extrapolated_seconds": t_ref_full,
              "ratio_early_stop": ratio_full,
              "five_seeds": {"focusmim_seconds": t_five, "stop_epochs": stops5,
                             "accuracies": [h["accuracy"] for h in heads],
                             "reference_extrapolated_seconds": t_ref_five, "ratio": ratio_five},
              "paper_sizes_projection": {"seconds_per_image_encoder": t_img, "seconds_per_head_step": t_head_step,
                                         "ratio_at_stop": paper_ratio(stop), "ratio_at_100": paper_ratio(100),
                                         "ratio_at_1000": paper_ratio(1000), "epochs_for_20x": need}}
    out = Path(args.out) if args.out else HERE / "results" / f"probe-{args.device}-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
