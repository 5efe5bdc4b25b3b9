"""Learned masks: a trained ADIOS mask network as a masker any notebook can use.

``build("learned", net=net)`` wraps a mask network (``models.build("adios_unet")``,
``masks = net(x)`` of shape (B,N,H,W), a softmax over N); ``build("learned",
run_key=key)`` loads the mask network of a stored ``adios_mim`` /
``adios_simclr`` run (``which``: ``"last"`` or a snapshot epoch). For each image
one of the N masks is drawn from the generator; ``binarize=True`` (default)
turns it into a hard mask (the pixels where that mask wins the softmax),
``binarize=False`` keeps the soft values. Hidden pixels take the image's mean
colour and the loss weight is the mask.

Example:
    >>> import torch
    >>> from focusmim import masking, models
    >>> net = models.build("adios_unet", n_masks=4, image_size=32, width=0.25)
    >>> m = masking.build("learned", net=net)
    >>> out = m(torch.rand(3, 3, 32, 32), torch.Generator().manual_seed(0))
    >>> tuple(out.weight.shape), sorted(out.weight.unique().tolist()) in ([0.0, 1.0], [0.0], [1.0])
    ((3, 1, 32, 32), True)
"""
from __future__ import annotations

from pathlib import Path

import torch

from focusmim import models
from focusmim.masking.base import Masker, MaskOutput, composite, mean_fill
from focusmim.store.runs import Run, RunStore
from focusmim.config.schemas import MASKERS

register = MASKERS.register

__all__ = ["LearnedMasks", "load_mask_network"]


def load_mask_network(run_key: str, store_root=None, which: str | int = "last", device="cpu") -> torch.nn.Module:
    """The mask network of a stored ADIOS run (eval mode), from its ``which`` checkpoint.

    ``which`` is ``"last"`` or a snapshot epoch (snapshots keep every module of
    the objective, see :mod:`focusmim.training.train`).
    """
    if not isinstance(run_key, str) or not run_key:
        raise ValueError(f"run_key={run_key!r} is not allowed; allowed: the folder name of a stored ADIOS run")
    root = RunStore(store_root).root
    d = Path(root) / run_key
    cpath = d / "config.json"
    if not cpath.exists():
        raise ValueError(f"run_key={run_key!r} is not a run in {root}; allowed: a folder there holding config.json")
    run = Run(d, None)
    cfg = run.load_json("config.json")  # verified against the run's manifest
    if cfg.get("objective") not in ("adios_mim", "adios_simclr"):
        raise ValueError(f"run_key={run_key!r} is a {cfg.get('objective')!r} run; allowed: an 'adios_mim' or "
                         f"'adios_simclr' run (it has a mask network)")
    if which != "last" and not (isinstance(which, int) and not isinstance(which, bool)):
        raise ValueError(f"which={which!r} is not allowed; allowed: 'last' or a snapshot epoch number")
    p = (d / "last.pt") if which == "last" else d / f"epoch{which:04d}.pt"
    if not p.exists():
        raise ValueError(f"which={which!r}: {p.name} is missing in {d}; allowed: 'last' or a kept snapshot epoch")
    state = run.load_checkpoint(which, map_location=device)  # verified, checked finite
    sd = state.get("modules", {}).get("masks")
    if sd is None:
        raise ValueError(f"which={which!r}: {p.name} holds no mask network; allowed: 'last' or a snapshot "
                         f"saved with every module")
    op = cfg.get("objective_params", {})
    width = op.get("mask_width") or cfg.get("width", 1.0)
    net = models.build("adios_unet", n_masks=op.get("n_masks", 6), image_size=cfg["image_size"], width=width)
    net.load_state_dict(sd)
    return net.to(device).eval()


@register("learned")
class LearnedMasks(Masker):
    """One of a mask network's N masks per image (drawn from the generator), mean fill,
    loss weight = the mask. Give ``net`` or ``run_key`` (with ``store_root``, ``which``).

    Example:
        >>> import torch
        >>> from focusmim import models
        >>> net = models.build("adios_unet", n_masks=3, image_size=16, width=0.25)
        >>> out = LearnedMasks(net=net, binarize=False)(torch.rand(2, 3, 16, 16), torch.Generator().manual_seed(1))
        >>> bool(((out.weight >= 0) & (out.weight <= 1)).all())
        True
    """

    name = "learned"
    random = True

    def __init__(self, net: torch.nn.Module | None = None, run_key: str | None = None, store_root=None,
                 which: str | int = "last", binarize: bool = True):
        if (net is None) == (run_key is None):
            raise ValueError("give exactly one of net= (a mask network) or run_key= (a stored ADIOS run); "
                             "allowed: net=<nn.Module> or run_key=<str>")
        if not isinstance(binarize, bool):
            raise ValueError(f"binarize={binarize!r} is not allowed; allowed: True or False")
        if net is None:
            net = load_mask_network(run_key, store_root, which)
        elif not isinstance(net, torch.nn.Module):
            raise ValueError(f"net={type(net).__name__} is not allowed; allowed: a torch.nn.Module returning "
                             f"(B, N, H, W) masks")
        super().__init__(run_key=run_key, which=which, binarize=binarize)
        self.net, self.binarize = net.eval(), binarize

    @torch.no_grad()
    def masks(self, x: torch.Tensor) -> torch.Tensor:
        """All N soft masks (B,N,H,W) of ``x``."""
        p = next(self.net.parameters(), None)
        if p is not None and p.device != x.device:
            self.net.to(x.device)
        return self.net(x).float()

    def _apply(self, x, generator, *, index, foreground):
        masks = self.masks(x)
        B, N, H, W = masks.shape
        k = torch.randint(N, (B,), generator=generator, device=generator.device).to(x.device)
        if self.binarize:
            m = (masks.argmax(1, keepdim=True) == k.view(B, 1, 1, 1)).to(x.dtype)
        else:
            m = masks.gather(1, k.view(B, 1, 1, 1).expand(B, 1, H, W)).to(x.dtype)
        return MaskOutput(inputs=composite(x, m, mean_fill(x)), weight=m, visible=m == 0)
