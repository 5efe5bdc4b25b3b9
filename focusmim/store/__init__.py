"""The run store: a run is data, kept under its config's key, written atomically and verified when read.

- :mod:`~focusmim.store.integrity`: the manifest's entries and the checks that name a damaged file;
- :mod:`~focusmim.store.files`: one run's files (atomic writes, verified reads, JSON and array caches, the CSV log);
- :mod:`~focusmim.store.checkpoints`: a run's weights, and the zoo's model where its folder keeps none;
- :mod:`~focusmim.store.runs`: ``Run`` and ``RunStore`` (locks, damaged runs set aside, verify, gc);
- :mod:`~focusmim.store.zoo`: the book's models as fp16 safetensors, loaded offline with their checksum checked.

Example:
    >>> import tempfile
    >>> from focusmim.config import make_config
    >>> from focusmim.store.runs import RunStore
    >>> RunStore(tempfile.mkdtemp()).get(make_config("smoke")) is None
    True
"""
