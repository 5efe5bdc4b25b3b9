"""A run's weights: its checkpoints (best, last, snapshots), verified and checked finite when read, and the
zoo's model standing in for ``best`` when the run's folder keeps no weights.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from focusmim import models

from . import zoo
from .files import RunFiles


class RunCheckpoints(RunFiles):
    """A run's folder with its checkpoints and the trained model."""

    # ---------------------------------------------------------- checkpoints
    def checkpoint_path(self, which: str | int) -> Path:
        if isinstance(which, int) and not isinstance(which, bool):
            return self.dir / f"epoch{which:04d}.pt"
        if which not in ("best", "last"):
            raise ValueError(f"which={which!r} is not allowed; allowed: 'best', 'last', or an epoch number")
        return self.dir / f"{which}.pt"

    def save_checkpoint(self, which: str | int, state: dict) -> None:
        buf = io.BytesIO()
        torch.save(state, buf)
        self.write_bytes(self.checkpoint_path(which).name, buf.getvalue())

    def load_checkpoint(self, which: str | int, map_location: str = "cpu") -> dict:
        """The checkpoint's state, verified against the manifest and checked finite."""
        p = self.checkpoint_path(which)
        if not p.exists():
            have = sorted(x.name for x in self.dir.glob("*.pt"))
            raise FileNotFoundError(f"no checkpoint {p.name} in {self.dir}; present: {have}")
        return self._load_pt(p, map_location)

    def zoo_entry(self, which: str | int = "best") -> dict | None:
        """The zoo's entry (:func:`focusmim.store.zoo.for_run`) that stands for this run's ``which`` weights when
        they are not in its folder: only for ``best`` (what the zoo exports), else None."""
        if which != "best" or self.checkpoint_path("best").exists():
            return None
        return zoo.for_run(self.dir.name)

    def has_model(self, which: str | int = "best") -> bool:
        """Whether :meth:`load_model` finds weights for ``which``: its checkpoint here, or (``best``) the zoo's."""
        return self.checkpoint_path(which).exists() or self.zoo_entry(which) is not None

    def load_model(self, which: str | int = "best", device: str = "cpu") -> torch.nn.Module:
        """The trained model in eval mode (``which``: 'best', 'last' or a snapshot epoch).

        Without ``best.pt`` in the run's folder, ``best`` is the zoo's model of this run's key (fp16
        weights, checksum checked; :mod:`focusmim.store.zoo`). The model's ``weights_source`` says which
        weights these are: None for this run's own checkpoint, else the zoo's record
        (:func:`focusmim.store.zoo.weights_record`), for a figure's caption
        (:func:`focusmim.experiments.captions.weights_note`).

        Example:
            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> from focusmim.store.runs import RunStore
            >>> RunStore(tempfile.mkdtemp()).open(make_config("smoke")).load_model()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            FileNotFoundError: no checkpoint best.pt in ...; present: [] (and no zoo model of run ...)
        """
        e = self.zoo_entry(which)
        if e is not None:
            return zoo.load_pretrained(e["name"], device=device)
        try:
            state = self.load_checkpoint(which, map_location=device)
        except FileNotFoundError as exc:
            if which != "best":
                raise
            raise FileNotFoundError(f"{exc} (and no zoo model of run {self.dir.name} in {zoo.zoo_dir()})") from None
        model = models.build_for_config(self.config)
        # best.pt and snapshots hold {"model": ...}; last.pt holds every module of the objective
        model.load_state_dict(state["model"] if "model" in state else state["modules"]["model"])
        model = model.to(device).eval()
        model.weights_source = None
        return model
