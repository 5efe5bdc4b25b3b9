"""Configuration, the package's lowest layer above ``utils``: what a run is and what can be asked for.

- :mod:`~focusmim.config.registry`: ``Registry`` and ``Param``, one name builds one thing;
- :mod:`~focusmim.config.schemas`: every registered name's declared parameters (datasets, maskers, models, ...);
- :mod:`~focusmim.config.presets`: the named budgets (``smoke``, ``cpu``, ``gpu``, ``imagenette``, ``paper``);
- :mod:`~focusmim.config.locations` and :mod:`~focusmim.config.identity`: where a dataset's files are, and the
  fingerprint of those files that a run's key holds;
- :mod:`~focusmim.config.validation`: every field checked before any work, one line per bad value (``ConfigError``);
- :mod:`~focusmim.config.core`: ``Config`` (every field of a run), its key, ``make_config``.

Example:
    >>> from focusmim.config import make_config
    >>> make_config("smoke", masker="random_patches").masker
    'random_patches'
"""
from focusmim.config.core import (DEFAULT_LR, LR_RULE_VERSION, MAIN_JOB, PAPER_LR, PRESETS, Config, make_config,
                                  resolve_preset)
from focusmim.config.validation import CROP_FITS, ConfigError, check_data_root, resolve_device

# stored files and doctests name the classes where users import them from
Config.__module__ = ConfigError.__module__ = __name__

__all__ = ["Config", "ConfigError", "PRESETS", "make_config", "resolve_preset", "resolve_device", "PAPER_LR",
           "DEFAULT_LR", "LR_RULE_VERSION", "MAIN_JOB", "CROP_FITS", "check_data_root"]
