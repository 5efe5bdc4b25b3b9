"""The model zoo: the book's trained autoencoders (encoder and decoder) as fp16 safetensors, loadable offline.

Every model of the zoo is one file ``<name>.safetensors`` in the zoo folder (``zoo/`` at the repository's
root, or ``$FOCUSMIM_ZOO``) and one entry of its ``manifest.json``: a readable name, the run key, the
full config, the data fingerprint, the budget (epochs, images, device, precision, wall time), the final
training loss, the linear-probe accuracy, the file's size and sha256. A file whose checksum does not
match is named and never loaded.

    >>> sorted(pretrained().columns)[:4]                 # the zoo as a pandas table
    ['MB', 'accuracy', 'data', 'device']
    >>> model = load_pretrained("imagenette96-masked-periphery")    # doctest: +SKIP
    >>> recon, z = model(images)           # images: float (B,3,96,96) in [0,1]  # doctest: +SKIP
    >>> probe("imagenette96-masked-periphery")["accuracy_mean"]     # linear probe, data here  # doctest: +SKIP

A run of the run store whose own weights are not kept finds its zoo model by its key
(:func:`for_run`; :meth:`focusmim.store.runs.Run.load_model` does this for ``which="best"``).
:func:`export` writes a run's weights (a run store keeps fp32 checkpoints); :func:`add` puts an exported
file into a zoo folder with its manifest entry (``scripts/zoo_add.py`` does it for the book's runs);
:func:`check` compares a zoo's files with its manifest.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from focusmim import models
from focusmim.config import Config, resolve_device
from focusmim.data import load_for_config
from focusmim.config.identity import key_fingerprint
from focusmim.utils.io import atomic_write_text, digest, file_digest
from focusmim.evaluation.probe import features, probe_features

__all__ = ["zoo_dir", "export", "file_metadata", "budget", "entry", "add", "manifest", "find", "for_run",
           "check", "load_pretrained", "weights_record", "pretrained", "probe", "ZooError", "MAX_FILE_BYTES",
           "MANIFEST"]

MANIFEST = "manifest.json"
MAX_FILE_BYTES = 4 * 2**20  # a zoo file stays within 4 MiB (the repository's limit for one file of weights)
PRECISION = "fp16"  # how the zoo stores weights (half the bytes of fp32; loaded back cast to the model's dtype)


class ZooError(ValueError):
    """A zoo name that does not exist, or a file that is missing or damaged (named in the message)."""


def zoo_dir(folder: str | os.PathLike | None = None) -> Path:
    """The zoo folder: ``folder``, else ``$FOCUSMIM_ZOO``, else ``zoo/`` at the repository's root."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get("FOCUSMIM_ZOO")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "zoo"


def export(run, path: str | os.PathLike, *, which: str | int = "best", name: str = "") -> Path:
    """Write ``run``'s model (its ``which`` checkpoint) as fp16 safetensors at ``path``; the file's metadata
    holds the name, run key, checkpoint and config, so that a file alone says what it is. Returns ``path``."""
    from safetensors.torch import save_file

    state = run.load_checkpoint(which)
    sd = state["model"] if "model" in state else state["modules"]["model"]
    tensors = {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in sd.items()}
    meta = {"name": name or Path(path).stem, "run_key": run.dir.name.split(".")[0], "which": str(which),
            "precision": PRECISION, "config": json.dumps(run.config.to_dict(), sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def file_metadata(path: str | os.PathLike) -> dict:
    """The metadata stored in a zoo file (name, run_key, which, precision, config as JSON)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def budget(metrics: dict) -> dict:
    """What a run's training cost, from its ``metrics.json``: epochs, pretraining images per epoch,
    images seen, device, precision, wall time (seconds), best epoch.

        >>> budget({"loss": [0.2, 0.1], "epoch_time": [2.0, 1.0], "images_per_s": [50.0, 100.0],
        ...         "device_name": "CPU", "precision": "fp32", "wall_time_s": 3.0, "best_epoch": 2})["images_seen"]
        200
    """
    ips, times = metrics.get("images_per_s") or [], metrics.get("epoch_time") or []
    images = round(ips[0] * times[0]) if ips and times else None  # images_per_s = images / epoch time
    epochs = len(metrics.get("loss") or [])
    return {"epochs": epochs, "images": images, "images_seen": None if images is None else images * epochs,
            "device": metrics.get("device_name", metrics.get("device")), "precision": metrics.get("precision"),
            "wall_time_s": metrics.get("wall_time_s"), "best_epoch": metrics.get("best_epoch"),
            "torch": metrics.get("torch")}


def entry(path: str | os.PathLike, run=None, **extra: Any) -> dict:
    """A manifest entry for the zoo file ``path``: from its metadata, plus (with ``run``, the stored run
    it came from) the data fingerprint, budget and final loss; ``extra`` adds fields (e.g. accuracy)."""
    path = Path(path)
    meta = file_metadata(path)
    cfg = json.loads(meta["config"])
    e = {"name": meta.get("name") or path.stem, "file": path.name, "run_key": meta["run_key"],
         "which": meta.get("which", "best"), "precision": meta.get("precision", PRECISION), "config": cfg,
         "bytes": path.stat().st_size, "sha256": file_digest(path), "dataset": cfg["dataset"],
         "image_size": cfg["image_size"], "masker": cfg["masker"], "epochs": cfg["epochs"], "seed": cfg["seed"]}
    if run is not None:
        if run.dir.name.split(".")[0] != e["run_key"]:
            raise ZooError(f"run={run.dir} is not allowed for {path}; allowed: the run it was exported from "
                           f"({e['run_key']})")
        m = run.metrics
        e.update(final_loss=m["loss"][-1], budget=budget(m), data_fingerprint=key_fingerprint(run.config))
    e.update(extra)
    return e


def manifest(folder: str | os.PathLike | None = None) -> list[dict]:
    """The zoo's entries (``[]`` when the folder has no manifest)."""
    p = zoo_dir(folder) / MANIFEST
    if not p.exists():
        return []
    try:
        return list(json.loads(p.read_text())["models"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ZooError(f"zoo manifest {p} is damaged ({exc}); restore it from git") from None


def add(path: str | os.PathLike, folder: str | os.PathLike | None = None, run=None, **extra: Any) -> dict:
    """Copy the exported file ``path`` into the zoo ``folder`` (unless it is there) and write its manifest
    entry (replacing one of the same name). Refuses a file over :data:`MAX_FILE_BYTES`."""
    path, folder = Path(path), zoo_dir(folder)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ZooError(f"{path} has {size:,} bytes; allowed: at most {MAX_FILE_BYTES:,} (4 MiB)")
    folder.mkdir(parents=True, exist_ok=True)
    e = entry(path, run, **extra)
    dest = folder / f"{e['name']}.safetensors"
    if path.resolve() != dest.resolve():
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)
    e["file"] = dest.name
    rest = [m for m in manifest(folder) if m["name"] != e["name"]]
    entries = sorted(rest + [e], key=lambda m: m["name"])
    atomic_write_text(json.dumps({"models": entries}, indent=1, sort_keys=True) + "\n", folder / MANIFEST)
    return e


def find(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The manifest entry of ``name`` (a model's name or its run key); a name not in the zoo raises
    :class:`ZooError` listing the names that are."""
    entries = manifest(folder)
    for e in entries:
        if name in (e["name"], e["run_key"]):
            return e
    names = ", ".join(e["name"] for e in entries) or "none (the zoo is empty)"
    raise ZooError(f"name={name!r} is not in the zoo at {zoo_dir(folder)}; allowed: {names} (or their run keys)")


def for_run(key: str, folder: str | os.PathLike | None = None) -> dict | None:
    """The manifest entry of the zoo model exported from the run with config key ``key``, or None."""
    return next((e for e in manifest(folder) if e["run_key"] == key), None)


def _read_checked(e: dict, folder) -> bytes:
    """The bytes of entry ``e``'s file, after checking them against the manifest (size and sha256)."""
    path = zoo_dir(folder) / e["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ZooError(f"zoo file {path} is missing (manifest entry {e['name']!r}); restore it from git") from None
    got = digest(data)
    if len(data) != e["bytes"] or got != e["sha256"]:
        raise ZooError(f"zoo file {path} is damaged: {len(data):,} bytes with sha256 {got[:12]}..., the manifest "
                       f"says {e['bytes']:,} bytes with {e['sha256'][:12]}...; restore it from git "
                       f"(a Git LFS pointer or a partial download also looks like this)")
    return data


def check(folder: str | os.PathLike | None = None) -> list[str]:
    """What is wrong with a zoo folder (``[]``: nothing): a file that is missing, damaged or over
    :data:`MAX_FILE_BYTES`, or a ``.safetensors`` file the manifest does not list."""
    folder = zoo_dir(folder)
    problems = []
    for e in manifest(folder):
        try:
            _read_checked(e, folder)
        except ZooError as exc:
            problems.append(str(exc))
        if e["bytes"] > MAX_FILE_BYTES:
            problems.append(f"zoo file {folder / e['file']} has {e['bytes']:,} bytes; allowed: {MAX_FILE_BYTES:,}")
    listed = {e["file"] for e in manifest(folder)}
    problems += [f"zoo file {p} is not in {folder / MANIFEST}" for p in sorted(folder.glob("*.safetensors"))
                 if p.name not in listed]
    return problems


def load_pretrained(name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                    folder: str | os.PathLike | None = None) -> torch.nn.Module:
    """The zoo's model ``name`` (or its run key) in eval mode on ``device``, its fp16 weights cast to ``dtype``
    (the model's float32 by default), after checking the file's sha256 against the manifest: a mismatch names
    the file and loads nothing. Needs no network. The model's ``weights_source`` says what it is
    (:func:`weights_record`)."""
    from safetensors.torch import load as load_bytes

    e = find(name, folder)
    sd = load_bytes(_read_checked(e, folder))
    model = models.build_for_config(Config.from_dict(e["config"]))
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()})
    model = model.to(device=device, dtype=dtype).eval()
    model.weights_source = weights_record(e)
    return model


def weights_record(e: dict) -> dict:
    """What drew a figure made with zoo entry ``e``'s model, for its caption
    (:func:`focusmim.experiments.captions.weights_note`) and for cached evaluations.

        >>> weights_record({"name": "m", "run_key": "0123456789abcdef", "sha256": "ab" * 32})
        {'zoo': 'm', 'key': '0123456789abcdef', 'precision': 'fp16', 'sha256': 'abababababab'}
    """
    return {"zoo": e["name"], "key": e["run_key"], "precision": e.get("precision", PRECISION),
            "sha256": e["sha256"][:12]}


def pretrained(folder: str | os.PathLike | None = None):
    """The zoo as a pandas table, one row per model: name, data, px, masker, epochs, seed, probe accuracy,
    final loss, device, MB, run key."""
    import pandas as pd

    cols = ["name", "data", "px", "masker", "epochs", "seed", "accuracy", "final_loss", "device", "MB", "run_key"]
    rows = [{"name": e["name"], "data": e["dataset"], "px": e["image_size"], "masker": e["masker"],
             "epochs": e["epochs"], "seed": e["seed"], "accuracy": e.get("accuracy"),
             "final_loss": e.get("final_loss"), "device": (e.get("budget") or {}).get("device"),
             "MB": round(e["bytes"] / 1e6, 2), "run_key": e["run_key"]} for e in manifest(folder)]
    return pd.DataFrame(rows, columns=cols)


def probe(name: str, *, seeds=(0,), data_root: str | os.PathLike | None = None, device: str | None = None,
          folder: str | os.PathLike | None = None) -> dict:
    """The linear probe (and kNN) of zoo model ``name``'s frozen encoder with its run's protocol
    (:func:`focusmim.evaluation.probe.probe_features`: the run's ``n_labeled`` labeled images split 4:1, its test images,
    one head per seed in ``seeds``), on the dataset found here (``data_root``, else where the run's config
    says when that exists, else the default places). ``same_data`` in the result says whether those files are
    the ones the model's run used (their fingerprint against the manifest's). The manifest's ``accuracy``
    came from the run's fp32 weights with five seeds; the fp16 weights give nearly the same."""
    e = find(name, folder)
    cfg = Config.from_dict(e["config"])
    if data_root is None and cfg.data_root is not None and not Path(cfg.data_root).expanduser().is_dir():
        cfg = cfg.replace(data_root=None)  # stored on another machine: the data found here
    cfg = cfg.replace(foreground="none", **({} if data_root is None else {"data_root": str(data_root)}))
    device = torch.device(device or resolve_device("auto"))
    model = load_pretrained(name, device=device, folder=folder)
    train, test = load_for_config(cfg, "train"), load_for_config(cfg, "test")
    res = probe_features(features(model.encode, train.images, device=device), train.labels,
                         features(model.encode, test.images, device=device), test.labels, tuple(seeds))
    res.update(name=e["name"], run_key=e["run_key"], precision=e.get("precision", PRECISION),
               same_data=key_fingerprint(cfg) == e.get("data_fingerprint"))
    return res
