"""The command line, the top floor: ``python -m focusmim`` and the ``focusmim`` script.

- :mod:`~focusmim.cli.entry`: the parser and ``run`` (the README's main job: pretrain, probe, one table);
- :mod:`~focusmim.cli.main_job`: what the main job prints after its table (chance, the probe's notes, a chart);
- :mod:`~focusmim.cli.commands`: ``publish``, ``summary``, ``prose``, ``store``, ``precompute`` and ``maps``.

Example:
    >>> from focusmim.cli import MAIN_CONDITIONS
    >>> MAIN_CONDITIONS["masked periphery"]
    {'masker': 'masked_periphery'}
"""
from focusmim.cli.entry import MAIN_CONDITIONS, main
from focusmim.cli.main_job import probe_notes, report_main_job

__all__ = ["main", "MAIN_CONDITIONS", "probe_notes", "report_main_job"]
