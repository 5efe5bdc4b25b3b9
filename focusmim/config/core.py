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
    focusmim.config.ConfigError: ratio=1.5 is not allowed; allowed: None or a number strictly between 0 and 1
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

import focusmim.config.schemas as schemas
from focusmim.config.identity import SYNTHETIC_VERSION, key_fingerprint
from focusmim.config.locations import default_data_root
from focusmim.config.presets import MAIN_JOB, PRESETS

from .validation import ConfigError, _validate, check_data_root, resolve_device

__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "make_config",
    "resolve_preset",
    "resolve_device",
    "PAPER_LR",
    "MAIN_JOB",
]


# The paper's learning rates (Adam, chosen from {5e-5, 1e-4, 5e-4} for each major strategy, section 3.3):
# 1e-4 for the masked periphery family, 5e-4 for everything else. The blurred variants keep the rate of the
# strategy they blur (the paper kept it "when blurry information was introduced"): blurry periphery 1e-4 like
# the masked periphery, blurry patches 5e-4 like random patches.
PAPER_LR = {"masked_periphery": 1e-4, "covert_attention": 1e-4, "blurry_periphery": 1e-4}
DEFAULT_LR = 5e-4
# maskers whose paper learning rate changed after runs were stored with lr=None: their keys get the rule's
# version, so a run trained at the old rate is never reused as one at the paper's (blurry periphery: 5e-4 -> 1e-4)
LR_RULE_VERSION = {"blurry_periphery": 2}


@dataclass(frozen=True)
class Config:
    """Everything that determines a pretraining run (and so its store key)."""

    # data
    dataset: str = "synthetic"
    data_root: str | None = None  # folder for cifar10/stl10/imagenette; None -> FOCUSMIM_DATA, shared/data or download
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
    # a drawn crop box that does not fit in the image: "clamp" it (every stored run) or "redraw" it as
    # torchvision's RandomResizedCrop does (smaller crops on average; book/fixes.md)
    crop_fit: str = "clamp"
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
    compile_mode: str = "default"  # COMPILE_MODES, with compile=True; not in the key (how to run, not which run)
    # bf16 autocast and a channels_last model on the CPU as well (about 2x on a 2-core AMD EPYC with native bf16);
    # off by default, so CPU runs stay float32 and bit-reproducible (exact resume)
    cpu_amp: bool = False
    # watching a run (neither changes the weights; see Config.key)
    tensorboard: bool = False  # TensorBoard scalars and image grids in <run>/tensorboard/ (pip install tensorboard)
    knn_every: int = 0  # every N epochs (and the last), the test split's kNN accuracy (k=20, cosine) in metrics; 0: off

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
        for k in ("crop_scale", "snapshot_epochs"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
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
        (:func:`focusmim.config.identity.key_fingerprint`), so runs on other images
        never share a key with the book's runs, whose keys stay as they were.
        Likewise a foveal run with the default filter carries the filter's version
        (:data:`focusmim.config.schemas.FOVEAL_VERSION`), so runs of the earlier filter are not reused.
        ``compile_mode`` is left out (CUDA graphs replay the kernels the compiled model runs anyway).
        ``tensorboard`` is left out too (a log to watch a run, not a different run: a stored run is reused
        without writing one); ``knn_every`` is in the key when not 0, since the run's metrics then hold
        the kNN curve.
        """
        d = self.to_dict()
        fp = key_fingerprint(self)
        if fp is not None:
            d["data_fingerprint"] = fp
        if self.dataset == "synthetic" and SYNTHETIC_VERSION > 1:  # version-1 runs were stored before this field
            d["data_version"] = SYNTHETIC_VERSION
        # the default foveal filter changed (version 2: the reference's foveation); runs stored with the
        # earlier filter (no ``blend`` parameter then) keep their keys and are never reused as the new one
        if (self.masker == "foveal" and schemas.FOVEAL_VERSION > 1
                and self.masker_kwargs().get("blend", schemas.FOVEAL_BLENDS[0]) == schemas.FOVEAL_BLENDS[0]):
            d["masker_version"] = schemas.FOVEAL_VERSION
        if (self.masker == "covert_attention" and schemas.OBJECT_DISC_VERSION > 1
                and self.masker_kwargs().get("placement") == "object"):
            d["masker_version"] = schemas.OBJECT_DISC_VERSION
        for k in ("device", "data_root", "download", "skip_bad_images", "tensorboard", "compile_mode"):
            d.pop(k)
        # added after the first stored runs: at their defaults they leave those runs' keys alone
        if not d["cpu_amp"]:
            d.pop("cpu_amp")
        if d["foreground_loss"]:
            d.pop("foreground_loss")
        if self.lr is None and self.masker in LR_RULE_VERSION:
            d["lr_rule"] = LR_RULE_VERSION[self.masker]
        if d["crop_fit"] == "clamp":
            d.pop("crop_fit")
        if not d["knn_every"]:
            d.pop("knn_every")
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
        """Raise :class:`ConfigError` naming the first bad parameter; return self.

        Pure: it reads the fields and the declared parameters of the registered
        names (:mod:`focusmim.config.schemas`); nothing is built, loaded or downloaded.
        """
        try:
            _validate(self)
        except ConfigError:
            raise
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return self


def resolve_preset(preset: str | None = None) -> str:
    """``None``/``"auto"``: ``$FOCUSMIM_PRESET`` if set, else ``paper`` on a CUDA
    machine and ``smoke`` elsewhere."""
    if preset in (None, "", "auto"):
        preset = os.environ.get("FOCUSMIM_PRESET") or None
        if preset is None:
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
    for k in ("crop_scale", "snapshot_epochs"):
        if isinstance(values.get(k), list):
            values[k] = tuple(values[k])
    if overrides.get("snapshot_epochs") is None and values.get("snapshot_epochs"):
        # a preset's snapshots (budget curves) within the epochs asked for: `-p epochs 5` keeps those <= 5
        values["snapshot_epochs"] = tuple(e for e in values["snapshot_epochs"] if e <= values.get("epochs", 1))
    if values.get("data_root") is None and values.get("dataset") in ("cifar10", "stl10", "imagenette"):
        values["data_root"] = default_data_root(values["dataset"])
    return check_data_root(Config(**values).validate())
