"""What a long job tells its user while it runs: progress bars and announcements that reach the terminal
even from inside a Jupyter kernel (papermill captures the kernel's output into the notebook), and the end of a
notebook's dry run. The lowest layer: it imports no other part of the package.

    >>> from focusmim.utils.progress import progress_bar
    >>> import io
    >>> with progress_bar(total=3, file=io.StringIO()) as bar:
    ...     bar.update(3)
    >>> bar.n
    3
"""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm as tqdm_auto
from tqdm.std import tqdm as tqdm_std

__all__ = ["announce", "progress_bar", "stop_notebook", "terminal_stream"]


def _in_kernel() -> bool:
    """Whether output goes to a Jupyter kernel's captured streams (papermill, Jupyter)."""
    return type(sys.stdout).__module__.startswith("ipykernel")


def terminal_stream():
    """A text stream to the terminal that started this process: inside a Jupyter kernel
    (papermill) the stderr the kernel inherited, bypassing the kernel's capture of it
    into the notebook; elsewhere ``sys.stderr``."""
    if not _in_kernel():
        return sys.stderr
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)  # ipykernel >= 6 captures fd 2 into the notebook
    if isinstance(fd, int):
        global _TERMINAL
        if _TERMINAL is None:
            _TERMINAL = os.fdopen(os.dup(fd), "w", buffering=1)
        return _TERMINAL
    return sys.__stderr__


_TERMINAL = None


def announce(text: str) -> None:
    """Print ``text`` (the notebook's output, or the terminal), and inside a Jupyter
    kernel write it to the terminal too."""
    print(text, flush=True)
    if _in_kernel():
        out = terminal_stream()
        out.write("\n" + text + "\n")  # on a line of its own, below papermill's cell counter
        out.flush()


def progress_bar(**kwargs):
    """A tqdm bar for long loops: inside a Jupyter kernel a text bar on the terminal that
    started the kernel (papermill's own output shows only its cell counter, and a
    notebook widget saved mid-run shows a stale count); elsewhere ``tqdm.auto``."""
    if _in_kernel():
        return tqdm_std(file=terminal_stream(), **kwargs)
    return tqdm_auto(**kwargs)


def stop_notebook(message: str) -> None:
    """End a dry run: inside a Jupyter kernel every later cell is skipped (it runs as
    an empty cell, so papermill finishes without an error); elsewhere exit with status 0."""
    print(message, flush=True)
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:
        ip = None
    if ip is None:
        raise SystemExit(0)
    ip.input_transformers_cleanup.append(lambda lines: [])
