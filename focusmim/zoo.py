"""The model zoo: the book's trained autoencoders (encoder and decoder) as fp16 safetensors, loadable offline.

Every model of the zoo is one file ``<name>.safetensors`` in the zoo folder (``zoo/`` at the repository's
root, or ``$FOCUSMIM_ZOO``) and one entry of its ``manifest.json``: a readable name, the run key, the
full config, the data fingerprint, the budget (epochs, images, device, precision, wall time), the final
training loss, the linear-probe accuracy and the file's sha256. A file whose checksum does not match is
named and never loaded.

    >>> import focusmim as fm                                          # doctest: +SKIP
    >>> fm.pretrained()                         # the zoo as a table   # doctest: +SKIP
    >>> model = fm.load_pretrained("imagenette96-random-patches")      # doctest: +SKIP
    >>> recon, z = model(images)                                       # doctest: +SKIP

:func:`export` writes a run's weights (a run store keeps fp32 checkpoints); :func:`add` puts an exported
file into a zoo folder with its manifest entry.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from focusmim import models
from focusmim.config import Config
from focusmim.data.identity import key_fingerprint
from focusmim.io import atomic_write_text, file_digest

__all__ = ["zoo_dir", "export", "add", "manifest", "pretrained", "load_pretrained", "entry", "ZooError",
           "MAX_FILE_BYTES"]

MANIFEST = "manifest.json"
MAX_FILE_BYTES = 4 * 2**20  # a zoo file stays within 4 MiB (the repository's limit for weights)


class ZooError(ValueError):
    """A zoo name that does not exist, or a file that is missing or damaged (named in the message)."""


def zoo_dir(folder: str | os.PathLike | None = None) -> Path:
    """The zoo folder: ``folder``, else ``$FOCUSMIM_ZOO``, else ``zoo/`` beside the package."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get("FOCUSMIM_ZOO")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "zoo"


def export(run, path: str | os.PathLike, *, which: str | int = "best", name: str = "") -> Path:
    """Write ``run``'s model (``which`` checkpoint) as fp16 safetensors at ``path``; the file's metadata
    holds the name, run key, checkpoint and config (so a file alone says what it is). Returns ``path``."""
    from safetensors.torch import save_file

    state = run.load_checkpoint(which)
    sd = state["model"] if "model" in state else state["modules"]["model"]
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() if v.is_floating_point() else v.cpu().contiguous()
               for k, v in sd.items()}
    meta = {"name": name, "run_key": run.dir.name.split(".")[0], "which": str(which),
            "config": json.dumps(run.config.to_dict(), sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def file_metadata(path: str | os.PathLike) -> dict:
    """The metadata stored in a zoo file (name, run_key, which, config as JSON)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def entry(path: str | os.PathLike, run=None, **extra: Any) -> dict:
    """A manifest entry for the zoo file ``path``: from its metadata, plus (with ``run``, the stored run
    it came from) the data fingerprint, budget and final loss; ``extra`` adds fields (e.g. accuracy)."""
    path = Path(path)
    meta = file_metadata(path)
    cfg = json.loads(meta["config"])
    e = {"name": meta.get("name") or path.stem, "file": path.name, "run_key": meta["run_key"],
         "which": meta.get("which", "best"), "config": cfg, "bytes": path.stat().st_size,
         "sha256": file_digest(path), "dataset": cfg["dataset"], "image_size": cfg["image_size"],
         "masker": cfg["masker"], "epochs": cfg["epochs"], "seed": cfg["seed"]}
    if run is not None:
        m = run.metrics
        e.update(final_loss=m["loss"][-1], best_epoch=m.get("best_epoch"), device=m.get("device_name"),
                 precision=m.get("precision"), wall_time_s=m.get("wall_time_s"), torch=m.get("torch"),
                 data_fingerprint=key_fingerprint(run.config))
    e.update(extra)
    return e


def manifest(folder: str | os.PathLike | None = None) -> list[dict]:
    """The zoo's entries (``[]`` when the folder has no manifest)."""
    p = zoo_dir(folder) / MANIFEST
    if not p.exists():
        return []
    try:
        return json.loads(p.read_text())["models"]
    except (ValueError, KeyError) as exc:
        raise ZooError(f"zoo manifest {p} is damaged ({exc}); restore it from git") from None


def add(path: str | os.PathLike, folder: str | os.PathLike | None = None, run=None, **extra: Any) -> dict:
    """Copy the exported file ``path`` into the zoo ``folder`` (unless it is there) and write its manifest
    entry (replacing one of the same name). Refuses a file over :data:`MAX_FILE_BYTES`."""
    import shutil

    path, folder = Path(path), zoo_dir(folder)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ZooError(f"{path} has {path.stat().st_size:,} bytes; allowed: at most {MAX_FILE_BYTES:,}")
    folder.mkdir(parents=True, exist_ok=True)
    e = entry(path, run, **extra)
    dest = folder / f"{e['name']}.safetensors"
    if path.resolve() != dest.resolve():
        shutil.copyfile(path, dest)
    e["file"] = dest.name
    rest = [m for m in manifest(folder) if m["name"] != e["name"]]
    models_ = sorted(rest + [e], key=lambda m: m["name"])
    atomic_write_text(json.dumps({"models": models_}, indent=1, sort_keys=True), folder / MANIFEST)
    return e


def _find(name: str, folder) -> dict:
    entries = manifest(folder)
    for e in entries:
        if name in (e["name"], e["run_key"]):
            return e
    names = ", ".join(e["name"] for e in entries) or "none (the zoo is empty)"
    raise ZooError(f"name={name!r} is not in the zoo at {zoo_dir(folder)}; allowed: {names} (or their run keys)")


def load_pretrained(name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                    folder: str | os.PathLike | None = None) -> torch.nn.Module:
    """The zoo's model ``name`` (or run key) in eval mode on ``device``, its fp16 weights cast to ``dtype``,
    after checking the file's sha256 against the manifest (a mismatch names the file and loads nothing)."""
    from safetensors.torch import load_file

    e = _find(name, folder)
    path = zoo_dir(folder) / e["file"]
    if not path.exists():
        raise ZooError(f"zoo file {path} is missing (manifest entry {e['name']!r}); restore it from git")
    got = file_digest(path)
    if got != e["sha256"]:
        raise ZooError(f"zoo file {path} is damaged: sha256 {got[:12]}... does not match the manifest's "
                       f"{e['sha256'][:12]}...; restore it from git")
    cfg = Config.from_dict(e["config"])
    model = models.build_for_config(cfg)
    sd = load_file(str(path))
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()})
    return model.to(device=device, dtype=dtype).eval()


def pretrained(folder: str | os.PathLike | None = None):
    """The zoo as a pandas table: name, data, size in px, masker, epochs, seed, probe accuracy, MB."""
    import pandas as pd

    rows = [{"name": e["name"], "dataset": e["dataset"], "px": e["image_size"], "masker": e["masker"],
             "epochs": e["epochs"], "seed": e["seed"], "accuracy": e.get("accuracy"),
             "device": e.get("device"), "MB": round(e["bytes"] / 1e6, 2), "run_key": e["run_key"]}
            for e in manifest(folder)]
    return pd.DataFrame(rows)
