"""Evaluation: reading frozen features out, the statistics of a claim, and the paper's numbers.

- :mod:`~focusmim.evaluation.readouts`: the readouts of frozen features (the paper's linear probe, standardised,
  kNN, MLP) as functions of tensors;
- :mod:`~focusmim.evaluation.probe`: features of a model's encoder, the probe of a stored run (cached);
- :mod:`~focusmim.evaluation.metrics`: the decorrelation of a code, foreground errors;
- :mod:`~focusmim.evaluation.claims`: a claim's difference, interval over seeds and verdict in sign;
- :mod:`~focusmim.evaluation.sizes`: its size against the paper's;
- :mod:`~focusmim.evaluation.paper`: the paper's numbers and claims;
- :mod:`~focusmim.evaluation.prediction`: the budget curve's prediction for longer runs.

Example:
    >>> from focusmim.evaluation.readouts import READOUTS
    >>> "linear" in READOUTS
    True
"""
