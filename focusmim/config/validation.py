"""A config's fields checked before any work: every bad value gets one line naming the field and what is
allowed (:class:`ConfigError`), and the device and data folder are checked to exist.

Example:
    >>> _check_device("tpu")
    Traceback (most recent call last):
    ...
    focusmim.config.ConfigError: device='tpu' is not allowed; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'
"""
from __future__ import annotations
from pathlib import Path
from typing import Any
import torch
from focusmim.config.registry import Param
from focusmim.config.schemas import BACKBONES, MASKERS, MODELS, OBJECTIVES



class ConfigError(ValueError):
    """A bad parameter value: the message names the parameter and what is allowed."""


DATASETS = ("synthetic", "cifar10", "stl10", "imagefolder", "imagenette")


FOREGROUNDS = ("none", "gt", "rembg")


OPTIMIZERS = ("adam", "adamw")


SCHEDULES = ("constant", "cosine")


# torch.compile's modes; "reduce-overhead" (and "max-autotune", which also searches kernels) records the compiled
# model's forward and backward as CUDA graphs and replays them (on CUDA; on the CPU they compile as "default")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


CROP_FITS = ("clamp", "redraw")  # focusmim.training.augment.FITS (config reads only the layers below it that it needs)


_NUMBER = dict(
    width=Param("float", low=0, high=4, low_open=True),
    ratio=Param("float", low=0, high=1, low_open=True, high_open=True, none=True),
    lr=Param("float", low=0, low_open=True, none=True),
    weight_decay=Param("float", low=0),
    crop_scale=Param("range", low=0, high=1, low_open=True),
    snapshot_epochs=Param("ints", low=1),
    data_root=Param("str", none=True),
    masker_params=Param("any"),
)


_CHOICES = dict(dataset=DATASETS, foreground=FOREGROUNDS, optimizer=OPTIMIZERS, schedule=SCHEDULES, crop_fit=CROP_FITS,
                compile_mode=COMPILE_MODES)


_WHOLE = dict(epochs=1, batch_size=1, n_labeled=10, warmup_epochs=0, seed=0, knn_every=0)


_OPTIONAL_WHOLE = dict(n_unlabeled=1, n_test=1)


_BOOLS = ("download", "skip_bad_images", "foreground_loss", "crop", "flip", "amp", "compile", "cpu_amp",
          "tensorboard")


# every plain field's type and range, in the order they are checked
_FIELDS = {
    **{k: Param("int", low=low) for k, low in _WHOLE.items()},
    **{k: Param("int", low=low, none=True) for k, low in _OPTIONAL_WHOLE.items()},
    **{k: Param("bool") for k in _BOOLS},
    **_NUMBER,
}


def _validate(cfg) -> None:
    """Every field's type and range, then the combinations (see :meth:`Config.validate`)."""
    for name, allowed in _CHOICES.items():
        Param("choice", choices=tuple(allowed)).check(name, getattr(cfg, name))
    OBJECTIVES.check(cfg.objective, "objective")
    MODELS.check(cfg.model, "model")
    MASKERS.check(cfg.masker, "masker")
    for name, param in _FIELDS.items():
        param.check(name, getattr(cfg, name))
    if isinstance(cfg.image_size, bool) or not isinstance(cfg.image_size, int) or cfg.image_size < 16 \
            or cfg.image_size % 8:
        raise ConfigError(
            f"image_size={cfg.image_size!r} is not allowed; allowed: a multiple of 8 that is at least 16"
            " (the encoder downsamples by 8 and masks use a 12x12 grid relative to the image)"
        )
    # combinations
    if cfg.model not in BACKBONES:
        raise ConfigError(f"model={cfg.model!r} is not allowed as the pretraining model; allowed: "
                          f"{', '.join(map(repr, BACKBONES))} ({cfg.model!r} is the ADIOS mask network, "
                          f"built by objective='adios_mim' or 'adios_simclr')")
    if cfg.warmup_epochs and cfg.warmup_epochs >= cfg.epochs:
        raise ConfigError(f"warmup_epochs={cfg.warmup_epochs} with epochs={cfg.epochs} is not allowed; "
                          f"allowed: fewer warmup epochs than epochs (0 for none)")
    bad = [e for e in cfg.snapshot_epochs if e > cfg.epochs]
    if bad:
        raise ConfigError(
            f"snapshot_epochs contains {bad}; allowed: whole epochs between 1 and epochs={cfg.epochs}"
        )
    if cfg.compile_mode != "default" and not cfg.compile:
        raise ConfigError(f"compile_mode={cfg.compile_mode!r} needs compile=True; allowed: compile=True, "
                          f"or compile_mode='default'")
    if cfg.compile_mode != "default" and cfg.objective != "mim":
        # CUDA graphs reuse their outputs' memory on the next call: objectives that call the model
        # several times a step (ADIOS) would read overwritten outputs
        raise ConfigError(f"compile_mode={cfg.compile_mode!r} with objective={cfg.objective!r} is not allowed; "
                          f"allowed: compile_mode='default', or objective='mim' (one model call a step)")
    if cfg.foreground == "gt" and cfg.dataset != "synthetic":
        raise ConfigError(
            f"foreground='gt' needs ground-truth masks, which only dataset='synthetic' has; "
            f"allowed for dataset={cfg.dataset!r}: 'none', 'rembg'"
        )
    _check_masker(cfg)
    OBJECTIVES.check_params(cfg.objective, _as_dict("objective_params", cfg.objective_params),
                            f"objective_params of objective {cfg.objective!r}")
    _check_device(cfg.device)


def check_data_root(cfg):
    """The one check that looks outside the config: a given ``data_root`` must exist
    (unless ``download``). :func:`make_config` runs it; :meth:`Config.validate` does not,
    so stored configs written on another machine still read back."""
    if cfg.dataset == "imagefolder" and (cfg.data_root is None or not Path(cfg.data_root).expanduser().is_dir()):
        raise ConfigError(
            f"data_root={cfg.data_root!r} is not an existing folder, which dataset='imagefolder' needs; "
            "allowed: a folder with train/<class>/* and test/<class>/* (optional unlabeled/), "
            "or with <class>/* only (split 4:1 deterministically); see README 'Your own images'"
        )
    if cfg.dataset == "imagenette" and cfg.data_root is not None and not cfg.download \
            and not Path(cfg.data_root).expanduser().is_dir():
        raise ConfigError(
            f"data_root={cfg.data_root!r} does not exist; allowed: an existing folder holding imagenette96 "
            f"(train/<class>/*.jpg and test/<class>/*.jpg), or download=True (fast.ai's archive, 94 MB)"
        )
    if cfg.dataset in ("cifar10", "stl10") and cfg.data_root is not None and not cfg.download:
        if not Path(cfg.data_root).exists():
            raise ConfigError(
                f"data_root={cfg.data_root!r} does not exist; allowed: an existing folder "
                f"(for cifar10 an ImageFolder tree with train/ and test/), or download=True"
            )
    return cfg


def _as_dict(name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}={value!r} is not allowed; allowed: a dict of keyword arguments")
    return value


def _check_masker(cfg) -> None:
    """The masker's parameters against its declared schema (nothing is built)."""
    schema = MASKERS.params(cfg.masker)
    params = _as_dict("masker_params", cfg.masker_params)
    if cfg.ratio is not None and "ratio" not in schema:
        raise ConfigError(f"ratio={cfg.ratio!r} is not allowed with masker={cfg.masker!r}, which has no ratio; "
                          f"allowed: None")
    if "net" in params:
        raise ConfigError("masker_params['net'] cannot be stored in a config; allowed: run_key=<a stored ADIOS run>")
    try:
        MASKERS.check_params(cfg.masker, cfg.masker_kwargs(), f"masker_params of masker {cfg.masker!r}")
    except ValueError as e:
        raise ConfigError(f"masker={cfg.masker!r}: {e}") from None


def _check_device(device: str) -> None:
    if device == "auto" or device == "cpu":
        return
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but no CUDA GPU is visible; allowed here: 'auto', 'cpu'")
        return
    raise ConfigError(f"device={device!r} is not allowed; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
