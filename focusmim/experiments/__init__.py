"""Experiments, above training: named conditions -> stored runs -> probes -> one results table.

- :mod:`~focusmim.experiments.tables`: ``Table`` (rows with provenance, saved as JSON), ``publish``, ``load_tables``;
- :mod:`~focusmim.experiments.runner`: ``compare``, ``train_conditions``, ``train_and_probe`` (processes at once);
- :mod:`~focusmim.experiments.records`: what a row records (``summarise``, ``provenance``, ``training_budget``);
- :mod:`~focusmim.experiments.captions`: the budget behind a table in words, for a figure's caption;
- :mod:`~focusmim.experiments.lr_selection`: the paper's learning-rate procedure at any budget.

Example:
    >>> from focusmim.experiments import Table
    >>> Table("probe", [{"condition": "a", "accuracy": 0.5}]).column("accuracy")
    [0.5]
"""
from focusmim.experiments.records import (checkpoint_epoch, provenance, run_precision, runs_record, summarise,
                                          training_budget)
from focusmim.experiments.runner import compare, train_and_probe, train_conditions, worker_plan
from focusmim.experiments.tables import Table, load_tables, mean_std, publish, results_dir, tables_dir

__all__ = ["Table", "compare", "load_tables", "train_conditions", "results_dir", "tables_dir", "publish", "provenance",
           "mean_std", "training_budget", "runs_record", "run_precision", "worker_plan", "checkpoint_epoch",
           "train_and_probe", "summarise"]
