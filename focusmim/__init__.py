"""focusmim: masked image modeling across eye movements (FocusMIM) and learned
adversarial masks (ADIOS), as a small tested package behind a Jupyter Book.

The public API, one name per step of the data flow (config -> pretrain -> evaluate -> table):

    >>> import focusmim as fm
    >>> cfg = fm.make_config("smoke", masker="masked_periphery", epochs=1, n_unlabeled=64, width=0.25)
    >>> cfg.masker, fm.Config.from_dict(cfg.to_dict()).key() == cfg.key()
    ('masked_periphery', True)
    >>> images = fm.load_dataset("synthetic", "test", image_size=32, n=4)
    >>> tuple(images.images.shape)
    (4, 3, 32, 32)
    >>> fm.make_config("smoke", weight_decay="abc")
    Traceback (most recent call last):
    ...
    focusmim.config.ConfigError: weight_decay='abc' is not allowed; allowed: a number >= 0

``fm.pretrain(cfg)`` trains (or reuses) the run a config names, ``fm.evaluate(run)``
(``focusmim.evaluation.probe.evaluate``) reads its frozen code out with linear probes, and ``fm.compare(base, conditions)``
does both for a dict of named conditions and returns a results table. The book's trained models come
with the repository (``zoo/``): ``fm.pretrained()`` lists them, ``fm.load_pretrained(name)`` loads one
offline (its checksum checked), ``fm.probe_pretrained(name)`` probes it.

The names resolve on first use (PEP 562), so ``import focusmim`` stays cheap and the
package's modules keep a one-way import order (see ARCHITECTURE.md).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "Config": ("focusmim.config", "Config"),
    "ConfigError": ("focusmim.config", "ConfigError"),
    "make_config": ("focusmim.config", "make_config"),
    "load_dataset": ("focusmim.data", "load"),
    "pretrain": ("focusmim.training.train", "pretrain"),
    "evaluate": ("focusmim.evaluation.probe", "evaluate"),  # ``focusmim.evaluation.probe`` is the module (a submodule wins the name)
    "compare": ("focusmim.experiments", "compare"),
    "RunStore": ("focusmim.store.runs", "RunStore"),
    "load_pretrained": ("focusmim.store.zoo", "load_pretrained"),
    "pretrained": ("focusmim.store.zoo", "pretrained"),
    "probe_pretrained": ("focusmim.store.zoo", "probe"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'focusmim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
