"""Planning: what a chapter or a sweep will cost before it runs, and sweeps of many runs on Slurm.

- :mod:`~focusmim.planning.timing`: measured step times and compile times, cached per machine;
- :mod:`~focusmim.planning.recording`: a chapter's configs, recorded by running it against a store that trains
  nothing;
- :mod:`~focusmim.planning.plan`: ``Plan`` (runs to train, images, hours) for configs or a chapter;
- :mod:`~focusmim.planning.sweep`: every run of the chapters as its own submitit job.

Example:
    >>> from focusmim.planning.plan import duration
    >>> duration(5400.0)
    '1.5 h'
"""
