"""End-to-end pretraining throughput: focusmim versus the reference pipeline, on one machine.

For every image size and masking strategy it times a fixed number of training steps
(after untimed warm-up steps) of the paper's autoencoder three ways:

(a) **focusmim** as users run it: the inner loop of :func:`focusmim.training.train.pretrain`
    (uint8 data on the device, one permutation per epoch from the epoch generator,
    :func:`focusmim.training.train.augment_batch` for the batched crop, the ``mim`` objective's
    ``step`` with the batched on-device masker, Adam, the loss read back as pretrain does).
    ``--check-pretrain`` also runs :func:`focusmim.training.train.pretrain` itself on a tiny config and
    prints its own images/s, to show that the loop timed here is the real one;
(b) the **reference re-implementation** (``reference_pipeline.py``): PIL list, per-sample
    crop and numpy/scipy masks in DataLoader workers, fp32, Adam;
(c) the same with the reference's per-step ``d x d`` covariance diagnostic.

focusmim computes its decorrelation once per epoch on 512 held-out images through the
N x N Gram matrix; that cost is timed too and amortised over an epoch of the paper's
protocol (100,000 images) for the "with diagnostic" comparison.

It also reports FLOPs per image (forward + backward, ``focusmim.models.flops``), the
achieved FLOP/s, peak GPU memory per configuration, on CUDA the measured bf16 matmul peak,
the fraction of it reached and the estimated wall time of the paper's protocol
(500 epochs x 100,000 images), and with ``--memory`` the peak resident memory of a
96 px run at batch 512 on the CPU (child processes, a few steps each).

Usage:
    python benchmarks/bench_pretrain.py --device cpu                     # ~4 min on 2 cores
    python benchmarks/bench_pretrain.py --device cpu --quick             # smoke test, seconds
    python benchmarks/bench_pretrain.py --device cpu --memory --sizes 96 --strategies random_patches
    python benchmarks/bench_pretrain.py --device cuda --amp --compile    # ~5 min on an H100
    python benchmarks/bench_pretrain.py --device cuda --amp --compile --compile-mode reduce-overhead \
        --no-reference --sizes 96 32 --strategies random_patches          # the step as CUDA graphs

Results are printed and written to ``benchmarks/results/<device>-<date>.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import reference_pipeline as ref  # noqa: E402

from focusmim import models  # noqa: E402
from focusmim.config import make_config  # noqa: E402
from focusmim.training.objectives import Batch  # noqa: E402
from focusmim.training.train import (_held_out_decorrelation, augment_batch, build_objective, captures_graphs,  # noqa: E402
                            epoch_generator)

MAIN_STRATEGIES = ["random_patches", "masked_periphery", "foveal"]
PAPER_EPOCHS, PAPER_IMAGES = 500, 100_000
TARGETS = {"no_diag": 1.5, "diag": 5.0}  # CPU targets at 96 px for random_patches and foveal


# ----------------------------------------------------------------------------- helpers
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cpus, {torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or 'cpu'} ({os.cpu_count()} cpus)"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40]


def image_pool(size: int, n: int) -> torch.Tensor:
    """uint8 (n, 3, size, size) synthetic images (focusmim.data, cached on disk after the first call)."""
    from focusmim import data

    return data.load("synthetic", "unlabeled", image_size=size, n=n, seed=0).images


def tiled(pool: torch.Tensor, n: int) -> torch.Tensor:
    return pool[torch.arange(n) % len(pool)]


def peak_rss_mb() -> dict:
    """Peak resident memory of this process and of its largest reaped child (MiB)."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"main_mb": self_kb / 1024, "largest_child_mb": child_kb / 1024}


# ----------------------------------------------------------------------------- (a) focusmim
def time_focusmim(pool: torch.Tensor, cfg, steps: int, warmup: int, device: torch.device) -> dict:
    """``steps`` timed steps of the loop of ``focusmim.training.train.pretrain`` (after ``warmup`` steps).

    Mirrors pretrain's inner loop line by line; the only difference is that the data are a
    tile of a small image pool (so no large synthetic set has to be generated) and that the
    epoch is cut to ``warmup + steps`` steps.
    """
    bs = cfg.batch_size
    n = (warmup + steps) * bs
    images = tiled(pool, n).to(device)
    index_all = torch.arange(n, device=device)
    model, objective = build_objective(cfg, device)
    for m in objective.modules().values():
        m.train()
    g = epoch_generator(cfg.seed, 0, device)
    perm = torch.randperm(n, generator=g, device=device)
    total = torch.zeros((), device=device, dtype=torch.float64)
    graphs = captures_graphs(device, cfg)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = t_first = time.perf_counter()
    for s in range(warmup + steps):
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if s == warmup:
            sync(device)
            t0 = time.perf_counter()
            t_first = t0 - t_first
        idx = perm[s * bs:(s + 1) * bs]
        raw = images[idx].float().div_(255)
        x, f = augment_batch(cfg, raw, None, g)
        out = objective.step(Batch(images=x, foreground=None, index=index_all[idx], generator=g,
                                   raw=raw, raw_foreground=None))
        total += out["loss"].double() * len(idx)
        if device.type == "cpu" or s % 25 == 0 or s == warmup + steps - 1:
            val = float(out["loss"])
            if not math.isfinite(val):
                raise FloatingPointError(f"loss became {val} at step {s}")
    sync(device)
    dt = time.perf_counter() - t0
    res = {"images_per_s": steps * bs / dt, "seconds_per_step": dt / steps, "warmup_seconds": t_first,
           "loss": float(total) / n}
    if device.type == "cuda":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    # focusmim's per-epoch diagnostic: decorrelation of 512 held-out latents via the Gram matrix
    held = tiled(pool, 512)
    _held_out_decorrelation(model, held, device)
    sync(device)
    t = time.perf_counter()
    _held_out_decorrelation(model, held, device)
    sync(device)
    res["diag_seconds_per_epoch"] = time.perf_counter() - t
    per_image = 1 / res["images_per_s"] + res["diag_seconds_per_epoch"] / PAPER_IMAGES
    res["images_per_s_with_diag"] = 1 / per_image
    return res


def time_reference(pool: torch.Tensor, strategy: str, args, device: torch.device, covariance: bool) -> dict:
    n = (args.ref_warmup + args.ref_steps) * args.batch_size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    res = ref.run_reference(tiled(pool, n), strategy, batch_size=args.batch_size, steps=args.ref_steps,
                            warmup=args.ref_warmup, covariance=covariance, num_workers=args.ref_workers,
                            device=str(device))
    if device.type == "cuda":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return res


def check_pretrain(device: torch.device, args) -> dict:
    """focusmim.training.train.pretrain itself on a tiny config (epoch 2 is timed; epoch 1 is warm-up)."""
    import tempfile

    from focusmim.store.runs import RunStore
    from focusmim.training.train import pretrain

    size, bs = min(args.sizes), args.batch_size
    cfg = make_config("smoke", image_size=size, width=1.0, masker="random_patches", batch_size=bs,
                      n_unlabeled=args.steps * bs, n_test=64, epochs=2, device=str(device),
                      amp=args.amp, compile=args.compile, compile_mode=args.compile_mode)
    with tempfile.TemporaryDirectory() as tmp:
        run = pretrain(cfg, RunStore(tmp), progress=False)
        ips = run.metrics["images_per_s"][-1]
    return {"image_size": size, "batch_size": bs, "steps": args.steps, "images_per_s": ips}


def bf16_peak(device: torch.device, n: int = 8192, iters: int = 30) -> float:
    """Measured bf16 matmul throughput (FLOP/s) of the GPU."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync(device)
    return 2 * n**3 * iters / (time.perf_counter() - t)


# ----------------------------------------------------------------------------- memory probe (child)
def memory_child(args) -> None:
    """Run a few steps at 96 px, batch 512, on the CPU in this process and print peak RSS as JSON."""
    device = torch.device("cpu")
    pool = image_pool(96, 512)
    if args.memory_child == "focusmim":
        cfg = make_config("smoke", image_size=96, width=1.0, masker=args.strategies[0], batch_size=512,
                          device="cpu", amp=False, compile=False)
        time_focusmim(pool, cfg, steps=1, warmup=1, device=device)
    else:
        args.batch_size, args.ref_steps, args.ref_warmup = 512, args.ref_workers, args.ref_workers
        time_reference(pool, args.strategies[0], args, device, covariance=args.memory_child == "reference_cov")
    print("MEMORY " + json.dumps(peak_rss_mb()))


def memory_probe(args) -> dict:
    out = {}
    for kind in ("focusmim", "reference", "reference_cov"):
        cmd = [sys.executable, __file__, "--memory-child", kind, "--strategies", args.strategies[0],
               "--ref-workers", str(args.ref_workers)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY ")]
        if proc.returncode or not line:
            raise RuntimeError(f"memory probe {kind} failed:\n{proc.stderr[-2000:]}")
        out[kind] = json.loads(line[0][7:])
        out[kind]["seconds"] = time.perf_counter() - t
        print(f"  peak RSS, 96 px, batch 512, {args.strategies[0]}, {kind:14s}: "
              f"main {out[kind]['main_mb']:8.0f} MiB, largest worker {out[kind]['largest_child_mb']:6.0f} MiB", flush=True)
    return out


# ----------------------------------------------------------------------------- main
def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=None, help="timed focusmim steps (cpu 5, cuda 30)")
    p.add_argument("--warmup", type=int, default=None, help="untimed focusmim steps (cpu 2, cuda 8)")
    p.add_argument("--ref-steps", type=int, default=None, help="timed reference steps (cpu 4, cuda 4)")
    p.add_argument("--ref-warmup", type=int, default=None, help="untimed reference steps (default: workers)")
    p.add_argument("--ref-workers", type=int, default=2, help="DataLoader workers of the reference (2)")
    p.add_argument("--batch-size", type=int, default=None, help="cpu 32, cuda 512")
    p.add_argument("--sizes", type=int, nargs="+", default=[96, 32])
    p.add_argument("--strategies", nargs="+", default=MAIN_STRATEGIES,
                   help=f"any of {', '.join(ref.STRATEGIES)}, or 'all'")
    p.add_argument("--compile", action="store_true", help="torch.compile focusmim's model (on the CPU about 40 s of compilation; best with --cpu-bf16)")
    p.add_argument("--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune"],
                   help="torch.compile's mode (Config.compile_mode; 'reduce-overhead': the model's forward and "
                        "backward replayed as CUDA graphs); implies --compile when not 'default'")
    p.add_argument("--amp", action="store_true", help="bf16 autocast for focusmim (cuda only; channels_last there always)")
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast + channels_last for focusmim on the CPU "
                   "(Config.cpu_amp; for CPUs with native bf16 such as AVX512-BF16; the reference stays fp32)")
    p.add_argument("--quick", action="store_true", help="smoke test: 32 px, 2+1 steps, one strategy")
    p.add_argument("--no-reference", action="store_true", help="time focusmim only")
    p.add_argument("--no-covariance", action="store_true", help="skip the reference with its diagnostic")
    p.add_argument("--memory", action="store_true", help="peak RSS of a 96 px batch-512 CPU run (child processes)")
    p.add_argument("--check-pretrain", action="store_true", help="also time focusmim.training.train.pretrain itself")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>-<date>.json)")
    p.add_argument("--memory-child", choices=["focusmim", "reference", "reference_cov"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA GPU is visible; allowed here: --device cpu")
    if args.strategies == ["all"]:
        args.strategies = list(ref.STRATEGIES)
    bad = [s for s in args.strategies if s not in ref.STRATEGIES]
    if bad:
        p.error(f"--strategies {bad} not allowed; allowed: {', '.join(ref.STRATEGIES)}, all")
    bad = [s for s in args.sizes if s < 16 or s % 8]
    if bad:
        p.error(f"--sizes {bad} not allowed; allowed: multiples of 8 that are at least 16")
    if args.quick:
        args.sizes, args.strategies = [32], args.strategies[:1]
        args.steps, args.warmup, args.ref_steps = args.steps or 2, args.warmup or 1, args.ref_steps or args.ref_workers
    args.batch_size = args.batch_size or (512 if cuda else 32)
    args.steps = args.steps or (30 if cuda else 5)
    args.warmup = args.warmup or (8 if cuda else 2)
    workers = max(1, args.ref_workers)
    args.ref_steps = args.ref_steps or 4
    args.ref_steps = -(-args.ref_steps // workers) * workers  # whole waves of worker batches
    args.ref_warmup = args.ref_warmup or workers
    for name in ("batch_size", "steps", "warmup", "ref_steps", "ref_warmup"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.ref_workers < 0:
        p.error("--ref-workers must be >= 0")
    args.compile = args.compile or args.compile_mode != "default"
    if args.compile and not cuda:
        print("note: --compile on the CPU spends about 40 s compiling before the timed steps", flush=True)
    return args


def main(argv=None) -> dict:
    args = parse(argv)
    if args.memory_child:
        memory_child(args)
        return {}
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = device_name(device)
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch_size}; focusmim {args.warmup}+{args.steps} "
          f"steps, reference {args.ref_warmup}+{args.ref_steps} steps with {args.ref_workers} workers; "
          f"amp={args.amp and cuda} cpu_bf16={args.cpu_bf16 and not cuda} compile={args.compile} ({args.compile_mode})", flush=True)
    result = {"device": str(device), "device_name": name, "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M"), "batch_size": args.batch_size, "steps": args.steps,
              "warmup": args.warmup, "ref_steps": args.ref_steps, "ref_warmup": args.ref_warmup,
              "ref_workers": args.ref_workers, "amp": bool(args.amp and cuda), "compile": args.compile,
              "compile_mode": args.compile_mode,
              "cpu_bf16": bool(args.cpu_bf16 and not cuda),
              "threads": torch.get_num_threads(), "sizes": {}}
    if cuda:
        peak = bf16_peak(device)
        result["bf16_peak_flops"] = peak
        print(f"measured bf16 matmul peak: {peak / 1e12:.0f} TFLOP/s", flush=True)
    t_all = time.perf_counter()
    for size in args.sizes:
        fl = models.flops(models.build("autoencoder"), size, part="forward_backward")
        pool = image_pool(size, 512)
        rows = {}
        print(f"\n== {size} px: {fl / 1e9:.3f} GFLOP per image (forward + backward)", flush=True)
        for strategy in args.strategies:
            cfg = make_config("smoke", image_size=size, width=1.0, masker=strategy, batch_size=args.batch_size,
                              device=str(device), amp=bool(args.amp and cuda) or args.cpu_bf16,
                              cpu_amp=args.cpu_bf16 and not cuda, compile=args.compile,
                              compile_mode=args.compile_mode)
            row = {"focusmim": time_focusmim(pool, cfg, args.steps, args.warmup, device)}
            fm = row["focusmim"]
            fm["flop_per_s"] = fm["images_per_s"] * fl
            line = f"  {strategy:17s} focusmim {fm['images_per_s']:9.1f} img/s ({fm['flop_per_s'] / 1e9:7.1f} GFLOP/s)"
            if cuda:
                fm["fraction_of_bf16_peak"] = fm["flop_per_s"] / result["bf16_peak_flops"]
                fm["paper_protocol_hours"] = PAPER_EPOCHS * PAPER_IMAGES / fm["images_per_s"] / 3600
                line += (f", {100 * fm['fraction_of_bf16_peak']:.1f}% of bf16 peak, paper protocol "
                         f"{fm['paper_protocol_hours']:.2f} h, peak {fm['peak_gpu_mb']:.0f} MiB")
            print(line, flush=True)
            if not args.no_reference:
                r = row["reference"] = time_reference(pool, strategy, args, device, covariance=False)
                row["ratio"] = fm["images_per_s"] / r["images_per_s"]
                print(f"  {'':17s} reference {r['images_per_s']:8.1f} img/s  -> focusmim is {row['ratio']:.2f}x"
                      + (f", peak {r['peak_gpu_mb']:.0f} MiB" if cuda else ""), flush=True)
                if not args.no_covariance:
                    rc = row["reference_cov"] = time_reference(pool, strategy, args, device, covariance=True)
                    row["ratio_with_diag"] = fm["images_per_s_with_diag"] / rc["images_per_s"]
                    print(f"  {'':17s} reference + per-step covariance {rc['images_per_s']:8.1f} img/s; focusmim with "
                          f"per-epoch diagnostic {fm['images_per_s_with_diag']:.1f} img/s -> "
                          f"{row['ratio_with_diag']:.2f}x" + (f", peak {rc['peak_gpu_mb']:.0f} MiB" if cuda else ""),
                          flush=True)
            rows[strategy] = row
        result["sizes"][str(size)] = {"flop_per_image": fl, "strategies": rows}
    if not cuda and 96 in args.sizes and not args.no_reference:
        print("\nCPU targets at 96 px (random_patches, foveal): >= 1.5x without diagnostic, >= 5x with it")
        for s in ("random_patches", "foveal"):
            row = result["sizes"]["96"]["strategies"].get(s)
            if row:
                ok = row["ratio"] >= TARGETS["no_diag"]
                msg = f"  {s:15s} {row['ratio']:.2f}x ({'met' if ok else 'MISSED'})"
                if "ratio_with_diag" in row:
                    ok2 = row["ratio_with_diag"] >= TARGETS["diag"]
                    msg += f", with diagnostic {row['ratio_with_diag']:.2f}x ({'met' if ok2 else 'MISSED'})"
                print(msg)
    if args.check_pretrain:
        cp = result["check_pretrain"] = check_pretrain(device, args)
        print(f"\nfocusmim.train.pretrain itself, {cp['image_size']} px random_patches, batch {cp['batch_size']}: "
              f"{cp['images_per_s']:.1f} img/s (epoch 2 of 2, {cp['steps']} steps)", flush=True)
    if args.memory:
        print("\nmemory (CPU, child processes):", flush=True)
        result["memory_cpu_96px_batch512"] = memory_probe(args)
    if cuda:
        result["peak_gpu_mb_overall"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["wall_seconds"] = time.perf_counter() - t_all
    if args.quick and not args.out:  # a smoke test never overwrites a measured result
        print(f"\nwall time {result['wall_seconds']:.0f} s (--quick: nothing written; --out PATH to keep it)")
        return result
    out = Path(args.out) if args.out else HERE / "results" / f"{slug(args.device + '-' + name)}-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwall time {result['wall_seconds']:.0f} s; wrote {out}")
    return result


if __name__ == "__main__":
    main()
