"""The book: what turns tables and runs into pages a reader sees.

- :mod:`~focusmim.book.notebook`: a chapter notebook's setup, plan note and tables;
- :mod:`~focusmim.book.plots`: the figures; :mod:`~focusmim.book.widgets`: live and kernel-free explorers;
- :mod:`~focusmim.book.report`: the results page, from its parts: :mod:`~focusmim.book.report_rows` (which tables,
  the budget behind a row), :mod:`~focusmim.book.claim_checks` (claims judged in sign and size),
  :mod:`~focusmim.book.headline` (the headline table and figure), :mod:`~focusmim.book.longer_runs` (the budget
  curve's prediction against longer runs);
- :mod:`~focusmim.book.prose`: pages whose every number comes from a table; :mod:`~focusmim.book.chapter_text`:
  the generated paragraphs of the chapters;
- :mod:`~focusmim.book.hygiene`: executed notebooks cleaned of machinery (``python -m focusmim.book.hygiene clean``).

Example:
    >>> from focusmim.book.hygiene import clean
    >>> clean({"metadata": {}, "cells": []})["cells"]
    []
"""
