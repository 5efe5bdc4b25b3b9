"""Training: one batched step from images to a loss, and the loop that runs it into the store.

- :mod:`~focusmim.training.augment`: batched crops and flips;
- :mod:`~focusmim.training.losses`: the losses as pure functions;
- :mod:`~focusmim.training.objectives`: masked image modeling and its registry (one name, one objective);
- :mod:`~focusmim.training.adios`: learned adversarial masks (ADIOS);
- :mod:`~focusmim.training.distributed`: torchrun's process group, one code path for one or many GPUs;
- :mod:`~focusmim.training.monitors`: what a run watches besides its loss (held-out decorrelation, kNN,
  TensorBoard) and when each is due;
- :mod:`~focusmim.training.train`: ``pretrain(cfg)``, resumable, into a stored run.

Example:
    >>> from focusmim.training.losses import masked_mse
    >>> import torch
    >>> float(masked_mse(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)))
    1.0
"""
