"""One typed configuration for every run, named presets, and up-front validation.

A :class:`Config` fully describes a pretraining run; its :meth:`Config.key` (a hash
of every field) names the run's folder in the run store, so the same config is
never trained twice.

Presets set the defaults for a scale of work; explicit values override them:

    >>> from focusmim.config import make_config
    >>> cfg = make_config("smoke", masker="masked_periphery", epochs=3)
    >>> cfg.dataset, cfg.image_size, cfg.epochs
    ('synthetic', 32, 3)
    >>> cfg.resolved_lr()          # the paper's choice for the periphery
    0.0001
    >>> make_config("smoke", ratio=1.5)
    Traceback (most recent call last):
    ...
    focusmim.config.ConfigError: ratio=1.5 is out of range; allowed: a number strictly between 0 and 1
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "make_config",
    "resolve_preset",
    "resolve_device",
    "default_data_root",
    "PAPER_LR",
]


class ConfigError(ValueError):
    """A bad parameter value: the message names the parameter and what is allowed."""


# The paper's learning rates (Adam, chosen from {5e-5, 1e-4, 5e-4}): 1e-4 for the
# masked periphery family, 5e-4 for everything else.
PAPER_LR = {"masked_periphery": 1e-4, "covert_attention": 1e-4}
DEFAULT_LR = 5e-4

DATASETS = ("synthetic", "cifar10", "stl10", "imagefolder")
FOREGROUNDS = ("none", "gt", "rembg")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
OBJECTIVES = ("mim", "adios_mim", "adios_simclr", "simclr")


@dataclass(frozen=True)
class Config:
    """Everything that determines a pretraining run (and so its store key)."""

    # data
    dataset: str = "synthetic"
    data_root: str | None = None  # folder for cifar10/stl10; None -> FOCUSMIM_DATA or torchvision root
    download: bool = False  # allow torchvision downloads (cifar10 / stl10)
    skip_bad_images: bool = False  # imagefolder: skip undecodable files with a warning (default: stop, naming the file)
    image_size: int = 32
    n_unlabeled: int | None = None  # pretraining subset size (None: the whole split)
    n_labeled: int = 5000  # labeled images for the probe, split 4:1 into train/validation
    n_test: int | None = None  # test images for the probe (None: the whole split)
    # model
    model: str = "autoencoder"
    width: float = 1.0
    # masking
    masker: str = "random_patches"
    ratio: float | None = None  # None: the masker's default (paper: 0.6 patches, 0.8 periphery)
    masker_params: dict = field(default_factory=dict)  # extra keyword arguments of the masker
    foreground: str = "none"  # none | gt (synthetic ground truth) | rembg
    # with foreground maps loaded: weight the loss by them (True), or only use them to select the
    # pretraining images (False: rembg's filter drops the images without an object, the loss covers everything)
    foreground_loss: bool = True
    # augmentation
    crop: bool = True
    crop_scale: tuple = (0.08, 1.0)
    flip: bool = False
    # objective and optimisation
    objective: str = "mim"
    epochs: int = 1
    batch_size: int = 512
    lr: float | None = None  # None: the paper's choice for the masker (PAPER_LR)
    weight_decay: float = 1e-8
    optimizer: str = "adam"
    schedule: str = "constant"
    warmup_epochs: int = 0
    objective_params: dict = field(default_factory=dict)  # e.g. ADIOS n_masks, alpha, mask_lr
    snapshot_epochs: tuple = ()  # keep the weights after these epochs (accuracy-vs-epoch curves)
    seed: int = 0
    # execution
    device: str = "auto"
    amp: bool = True  # bf16 autocast, on CUDA only
    compile: bool = False
    # bf16 autocast and a channels_last model on the CPU as well (about 2x on a 2-core AMD EPYC with native bf16);
    # off by default, so CPU runs stay float32 and bit-reproducible (exact resume)
    cpu_amp: bool = False

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["crop_scale"] = list(self.crop_scale)
        d["snapshot_epochs"] = list(self.snapshot_epochs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; allowed: {sorted(known)}")
        d = dict(d)
        if "crop_scale" in d:
            d["crop_scale"] = tuple(d["crop_scale"])
        if "snapshot_epochs" in d:
            d["snapshot_epochs"] = tuple(int(e) for e in d["snapshot_epochs"])
        return cls(**d).validate()

    def key(self) -> str:
        """Stable 16-hex-digit hash of the config (the run store key).

        Fields that say where and how to fetch things, not what the experiment
        is, are left out: ``device`` (a run trained on a GPU is reused by a CPU
        reader; the run records the device it ran on in its metrics),
        ``data_root`` and ``download``. The data's identity is in: the synthetic
        images change with the generator's version, which is therefore part of a
        synthetic run's key, and files read from disk add their content
        fingerprint unless they are the dataset's official files
        (:func:`focusmim.data.identity.key_fingerprint`), so runs on other images
        never share a key with the book's runs, whose keys stay as they were.
        """
        d = self.to_dict()
        from focusmim.data.identity import key_fingerprint

        fp = key_fingerprint(self)
        if fp is not None:
            d["data_fingerprint"] = fp
        if self.dataset == "synthetic":
            from focusmim.data.synthetic import VERSION

            if VERSION > 1:  # version-1 runs were stored before this field
                d["data_version"] = VERSION
        for k in ("device", "data_root", "download", "skip_bad_images"):
            d.pop(k)
        # added after the first stored runs: at their defaults they leave those runs' keys alone
        if not d["cpu_amp"]:
            d.pop("cpu_amp")
        if d["foreground_loss"]:
            d.pop("foreground_loss")
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return PAPER_LR.get(self.masker, DEFAULT_LR)

    def masker_kwargs(self) -> dict:
        """Keyword arguments for ``focusmim.masking.build(self.masker, **kw)``."""
        kw = dict(self.masker_params)
        if self.ratio is not None:
            kw["ratio"] = self.ratio
        return kw

    def describe(self) -> str:
        """One line of provenance for printing beside results."""
        return (
            f"{self.dataset} {self.image_size}px, n_unlabeled={self.n_unlabeled or 'all'}, "
            f"{self.model} (width {self.width}), masker={self.masker}"
            f"{'' if self.ratio is None else f' ratio={self.ratio}'}, foreground={self.foreground}, "
            f"crop={self.crop}, objective={self.objective}, epochs={self.epochs}, batch={self.batch_size}, "
            f"lr={self.resolved_lr():g}, seed={self.seed}, device={resolve_device(self.device)}"
        )

    # --------------------------------------------------------------- validation
    def validate(self) -> "Config":
        """Raise :class:`ConfigError` naming the first bad parameter; return self."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("foreground", self.foreground, FOREGROUNDS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("objective", self.objective, OBJECTIVES)
        _int_at_least("epochs", self.epochs, 1)
        _int_at_least("batch_size", self.batch_size, 1)
        _int_at_least("n_labeled", self.n_labeled, 10)
        _int_at_least("warmup_epochs", self.warmup_epochs, 0)
        _int_at_least("seed", self.seed, 0)
        if self.n_unlabeled is not None:
            _int_at_least("n_unlabeled", self.n_unlabeled, 1)
        if self.n_test is not None:
            _int_at_least("n_test", self.n_test, 1)
        if not isinstance(self.image_size, int) or self.image_size < 16 or self.image_size % 8:
            raise ConfigError(
                f"image_size={self.image_size!r} is not allowed; allowed: a multiple of 8 that is at least 16"
                " (the encoder downsamples by 8 and masks use a 12x12 grid relative to the image)"
            )
        if self.ratio is not None and not (isinstance(self.ratio, (int, float)) and 0 < self.ratio < 1):
            raise ConfigError(
                f"ratio={self.ratio!r} is out of range; allowed: a number strictly between 0 and 1"
            )
        if not (isinstance(self.width, (int, float)) and 0 < self.width <= 4):
            raise ConfigError(f"width={self.width!r} is out of range; allowed: a number in (0, 4]")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} is not allowed; allowed: a positive number or None")
        lo, hi = self.crop_scale
        if not (0 < lo <= hi <= 1):
            raise ConfigError(f"crop_scale={self.crop_scale!r} is not allowed; allowed: 0 < low <= high <= 1")
        bad = [e for e in self.snapshot_epochs if not (isinstance(e, int) and 1 <= e <= self.epochs)]
        if bad:
            raise ConfigError(
                f"snapshot_epochs contains {bad}; allowed: whole epochs between 1 and epochs={self.epochs}"
            )
        if self.foreground == "gt" and self.dataset != "synthetic":
            raise ConfigError(
                f"foreground='gt' needs ground-truth masks, which only dataset='synthetic' has; "
                f"allowed for dataset={self.dataset!r}: 'none', 'rembg'"
            )
        for name in ("amp", "compile", "cpu_amp", "foreground_loss", "skip_bad_images", "download"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} is not allowed; allowed: True, False")
        _check_device(self.device)
        # registries are imported lazily to keep config free of heavy imports
        from focusmim import masking, models

        try:
            masking.REGISTRY.check(self.masker, "masker")
            models.REGISTRY.check(self.model, "model")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        try:  # the masker checks its own parameters (ratio range, sigma, placement, ...)
            masking.build(self.masker, **self.masker_kwargs())
        except (ValueError, TypeError) as e:
            raise ConfigError(f"masker={self.masker!r} with ratio={self.ratio!r}, "
                              f"masker_params={self.masker_params!r}: {e}") from None
        if self.dataset == "imagefolder" and (self.data_root is None or not Path(self.data_root).expanduser().is_dir()):
            raise ConfigError(
                f"data_root={self.data_root!r} is not an existing folder, which dataset='imagefolder' needs; "
                "allowed: a folder with train/<class>/* and test/<class>/* (optional unlabeled/), "
                "or with <class>/* only (split 4:1 deterministically); see README 'Your own images'"
            )
        if self.dataset in ("cifar10", "stl10") and self.data_root is not None and not self.download:
            if not Path(self.data_root).exists():
                raise ConfigError(
                    f"data_root={self.data_root!r} does not exist; allowed: an existing folder "
                    f"(for cifar10 an ImageFolder tree with train/ and test/), or download=True"
                )
        return self


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; allowed: {', '.join(map(repr, allowed))}")


def _int_at_least(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}={value!r} is not allowed; allowed: a whole number >= {low}")


def _check_device(device: str) -> None:
    if device == "auto" or device == "cpu":
        return
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but no CUDA GPU is visible; allowed here: 'auto', 'cpu'")
        return
    raise ConfigError(f"device={device!r} is not allowed; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def default_data_root(dataset: str) -> str | None:
    """Where to look for a dataset's files: ``$FOCUSMIM_DATA`` (a folder holding
    ``cifar10/`` and/or ``stl10/``, or the dataset folder itself), else the
    ``shared/data`` folder beside the repository when it exists."""
    env = os.environ.get("FOCUSMIM_DATA")
    candidates = []
    if env:
        candidates += [Path(env) / dataset, Path(env)]
    repo = Path(__file__).resolve().parent.parent
    candidates += [repo.parent / "shared" / "data" / dataset, repo / "shared" / "data" / dataset]
    for c in candidates:
        if c.exists() and (c / "train").exists() or (c.exists() and dataset == "stl10"):
            return str(c)
    return None


# Presets: the defaults for one scale of work. Explicit parameters override them.
PRESETS: dict[str, dict[str, Any]] = {
    # seconds on a laptop CPU: the whole pipeline, tiny synthetic data
    "smoke": dict(
        dataset="synthetic", image_size=32, n_unlabeled=768, n_labeled=500, n_test=500,
        width=0.5, epochs=2, batch_size=128,
    ),
    # minutes on 2 CPU cores: real images (CIFAR-10 from ../shared or $FOCUSMIM_DATA);
    # measured about 530 images/s at 32 px, so one run (5,000 images x 6 epochs) takes about a minute
    "cpu": dict(
        dataset="cifar10", image_size=32, n_unlabeled=5000, n_labeled=5000, n_test=2000,
        width=1.0, epochs=6, batch_size=256,
    ),
    # one GPU, all 50,000 CIFAR-10 training images (about 2 s an epoch on an H100 at 32 px)
    "gpu": dict(
        dataset="cifar10", image_size=32, n_unlabeled=None, n_labeled=5000, n_test=None,
        width=1.0, epochs=10, batch_size=512, amp=True, compile=True,
    ),
    # the paper's protocol: STL-10 unlabeled (100k), 96 px, 500 epochs, batch 512
    "paper": dict(
        dataset="stl10", image_size=96, n_unlabeled=None, n_labeled=5000, n_test=None,
        width=1.0, epochs=500, batch_size=512, amp=True, compile=True,
    ),
}


def resolve_preset(preset: str | None = None) -> str:
    """``None``/``"auto"``: ``$FOCUSMIM_PRESET`` if set, else ``paper`` on a CUDA
    machine and ``smoke`` elsewhere."""
    if preset in (None, "", "auto"):
        preset = os.environ.get("FOCUSMIM_PRESET") or None
        if preset is None:
            import torch

            preset = "paper" if torch.cuda.is_available() else "smoke"
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is not allowed; allowed: {', '.join(map(repr, PRESETS))}, 'auto'")
    return preset


def make_config(preset: str | None = None, **overrides: Any) -> Config:
    """Build a validated :class:`Config` from a preset plus explicit overrides.

    Overrides whose value is ``None`` are ignored, so notebook parameters can
    default to ``None`` meaning "take the preset's value". Unknown names raise.
    """
    name = resolve_preset(preset)
    values: dict[str, Any] = dict(PRESETS[name])
    known = {f.name for f in dataclasses.fields(Config)}
    for k, v in overrides.items():
        if k not in known:
            raise ConfigError(f"unknown parameter {k!r}; allowed: {', '.join(sorted(known))}")
        if v is not None:
            values[k] = v
    if "crop_scale" in values:
        values["crop_scale"] = tuple(values["crop_scale"])
    if "snapshot_epochs" in values:
        values["snapshot_epochs"] = tuple(values["snapshot_epochs"])
    if values.get("data_root") is None and values.get("dataset") in ("cifar10", "stl10"):
        values["data_root"] = default_data_root(values["dataset"])
    return Config(**values).validate()
