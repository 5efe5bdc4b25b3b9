"""Utilities, the lowest floor: nothing of the package below it, nothing about the paper in it.

- :mod:`~focusmim.utils.io`: atomic writes, checksums, a folder's writability checked before work starts;
- :mod:`~focusmim.utils.progress`: tqdm bars that papermill and a terminal both show.

Example:
    >>> from focusmim.utils.io import digest
    >>> len(digest(b"abc"))
    64
"""
