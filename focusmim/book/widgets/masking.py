"""An interactive masking explorer: pick a strategy, ratio, blur width and
fixation point and see the masked input (and, when the run store or the model zoo holds
a trained model of that strategy, its reconstruction, with a title naming the model).

:func:`render` draws one still and is what the widget calls on every change,
so the static book shows exactly what the live widget shows.

Example:
    >>> import torch
    >>> img = torch.rand(3, 32, 32)
    >>> fig = render(img, "masked_periphery", ratio=0.8, center=(0.3, 0.6))
    >>> [ax.get_title() for ax in fig.axes]
    ['image', 'encoder input', 'loss region']
"""
from __future__ import annotations

import inspect
from typing import Any, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from focusmim import masking
from focusmim.experiments.captions import weights_note
from focusmim.book.plots.common import to_image
from focusmim.store.runs import RunStore

__all__ = ["render", "masker_for", "find_model", "explorer", "STRATEGIES"]

# explorer choices: label -> masker name
STRATEGIES = {
    "random patches": "random_patches",
    "masked periphery": "masked_periphery",
    "foveal filter": "foveal",
    "blurry random patches": "blurry_patches",
    "blurry periphery": "blurry_periphery",
    "central mask": "central",
    "covert attention": "covert_attention",
    "no mask": "none",
}


def _params(name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(masking.REGISTRY.get(name)).parameters)


def masker_for(strategy: str, *, ratio: float | None = None, sigma: float | None = None,
               center: tuple[float, float] | None = None):
    """Build masker ``strategy`` passing only the settings it takes (``None`` = its default).

    Example:
        >>> masker_for("foveal", ratio=0.5, center=(0.5, 0.5)).name
        'foveal'
    """
    masking.REGISTRY.check(strategy, "strategy")
    params = _params(strategy)
    kw = {k: v for k, v in dict(ratio=ratio, sigma=sigma, center=center).items() if v is not None and k in params}
    return masking.build(strategy, **kw)


def _as_batch(image) -> torch.Tensor:
    x = torch.as_tensor(image)
    if x.dtype == torch.uint8:
        x = x.float() / 255
    if x.dim() == 3 and x.shape[-1] == 3 and x.shape[0] != 3:
        x = x.permute(2, 0, 1)
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"image has shape {tuple(x.shape)}; allowed: (3,H,W) or (H,W,3), uint8 or float in [0,1]")
    return x.float()[None]


@torch.no_grad()
def render(image, strategy: str = "random_patches", *, ratio: float | None = None, sigma: float | None = None,
           center: tuple[float, float] | None = None, model: torch.nn.Module | None = None, seed: int = 0,
           foreground=None) -> Figure:
    """One still: the image, the encoder's input, the loss region and, given a
    trained ``model``, its reconstruction. The mask is drawn from
    ``torch.Generator().manual_seed(seed)``. When the model's weights are not its
    run's own (the zoo's fp16 weights: its ``weights_source``, set by
    :meth:`focusmim.store.runs.Run.load_model`), the title names the model that drew it."""
    x = _as_batch(image)
    m = masker_for(strategy, ratio=ratio, sigma=sigma, center=center)
    fg = None
    if foreground is not None:
        fg = torch.as_tensor(foreground).float().reshape(1, 1, *x.shape[-2:])
        fg = fg / 255 if fg.max() > 1 else fg
    out = m(x, torch.Generator().manual_seed(seed), index=torch.zeros(1, dtype=torch.int64), foreground=fg)
    panels = [("image", x[0]), ("encoder input", out.inputs[0]), ("loss region", out.weight[0])]
    if model is not None:
        recon, _ = model(out.inputs)
        panels.append(("reconstruction", recon[0]))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.5), layout="constrained")
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(to_image(img), interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    desc = ", ".join(f"{k}={v}" for k, v in m.params.items() if v is not None) if hasattr(m, "params") else ""
    drawn = weights_note(getattr(model, "weights_source", None))
    fig.suptitle(f"{strategy}" + (f" ({desc})" if desc else "") + f", {out.weight.mean():.1%} of pixels in the loss"
                 + (f"\nreconstruction {drawn}" if drawn else ""), fontsize=9)
    return fig


def find_model(base, strategy: str, *, ratio: float | None = None, sigma: float | None = None, store=None):
    """The trained model of ``strategy`` at ``ratio``/``sigma`` under ``base``'s budget
    from the run store (seed ``base.seed``), or None when the store does not hold it. A stored
    run without its weights gets the zoo's model of it (:meth:`focusmim.store.runs.Run.load_model`)."""
    masking.REGISTRY.check(strategy, "strategy")
    params = _params(strategy)
    store = store if store is not None else RunStore()

    def default(k):
        p = params.get(k)
        return None if p is None or p.default is inspect.Parameter.empty else p.default

    r = None if ratio is None or "ratio" not in params or abs(ratio - (default("ratio") or -1)) < 1e-9 else ratio
    mp = {}
    if sigma is not None and "sigma" in params and abs(sigma - (default("sigma") or -1)) > 1e-9:
        mp["sigma"] = float(sigma)
    try:
        cfg = base.replace(masker=strategy, ratio=r, masker_params=mp)
    except ValueError:
        return None
    run = store.get(cfg)
    if run is None or not run.has_model("best"):
        return None
    return run.load_model("best")


def explorer(images: Sequence[Any], *, base=None, store=None, strategy: str = "masked_periphery"):
    """An ipywidgets panel over ``images`` (a uint8 (N,3,H,W) tensor or a list of
    images): strategy, ratio, blur sigma, fixation point, image and mask seed.
    With a ``base`` config, trained models found in the run store reconstruct too."""
    import ipywidgets as w
    from IPython.display import display

    if len(images) == 0:
        raise ValueError("images is empty; allowed: at least one image")
    if strategy not in STRATEGIES.values():
        raise ValueError(f"strategy={strategy!r} is not allowed; allowed: {', '.join(STRATEGIES.values())}")
    models: dict = {}
    c = dict(continuous_update=False, style={"description_width": "initial"})
    ui = dict(
        strategy=w.Dropdown(options=list(STRATEGIES.items()), value=strategy, description="strategy"),
        ratio=w.FloatSlider(0.8, min=0.1, max=0.9, step=0.05, description="ratio", **c),
        sigma=w.FloatSlider(4.0, min=0.5, max=16.0, step=0.5, description="blur sigma (px at 96 px)", **c),
        cy=w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="fixation y", **c),
        cx=w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="fixation x", **c),
        index=w.IntSlider(0, min=0, max=len(images) - 1, description="image", **c),
        seed=w.IntSlider(0, min=0, max=99, description="mask seed", **c),
    )
    out = w.Output()

    def redraw(*_):
        s = ui["strategy"].value
        key = (s, ui["ratio"].value, ui["sigma"].value)
        if base is not None and key not in models:
            models[key] = find_model(base, s, ratio=ui["ratio"].value, sigma=ui["sigma"].value, store=store)
        with out:
            out.clear_output(wait=True)
            fig = render(images[ui["index"].value], s, ratio=ui["ratio"].value, sigma=ui["sigma"].value,
                         center=(ui["cy"].value, ui["cx"].value), model=models.get(key), seed=ui["seed"].value)
            display(fig)
            plt.close(fig)

    for widget in ui.values():
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([ui["strategy"], ui["index"], ui["seed"]]), w.HBox([ui["ratio"], ui["sigma"]]),
                   w.HBox([ui["cy"], ui["cx"]]), out])
