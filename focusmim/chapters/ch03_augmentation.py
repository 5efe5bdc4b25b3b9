"""Chapter 3: how much do the masks rely on data augmentation, and must they move?

Random-resized-crop on and off for random patches, the masked periphery and the
foveal filter (the paper's Fig. 4b), and patch masks that stay fixed for each
image across epochs against masks drawn afresh every time, with and without the
crop (the paper's section 4.3). The crop-on runs are chapter 1's (reused).

Example:
    >>> from focusmim.chapters.ch03_augmentation import CONDITIONS, grouped
    >>> CONDITIONS["masked periphery, no crop"]
    {'masker': 'masked_periphery', 'crop': False}
    >>> grouped({"a": 0.5, "a, no crop": 0.4}, ["a"])
    {'crop': [0.5], 'no crop': [0.4]}
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from focusmim.chapters import register
from focusmim.evaluation.claims import Claim
from focusmim.experiments import compare
from focusmim.store.runs import RunStore

__all__ = ["CONDITIONS", "CROP_GROUPS", "FIXED_GROUPS", "CLAIMS", "compute", "grouped"]

NAME = "03_augmentation"
FIXED = {"fixed": True}
CONDITIONS: dict[str, dict[str, Any]] = {
    "random patches": dict(masker="random_patches"),
    "random patches, no crop": dict(masker="random_patches", crop=False),
    "masked periphery": dict(masker="masked_periphery"),
    "masked periphery, no crop": dict(masker="masked_periphery", crop=False),
    "foveal filter": dict(masker="foveal"),
    "foveal filter, no crop": dict(masker="foveal", crop=False),
    "fixed random patches": dict(masker="random_patches", masker_params=FIXED),
    "fixed random patches, no crop": dict(masker="random_patches", masker_params=FIXED, crop=False),
}
CROP_GROUPS = ["random patches", "masked periphery", "foveal filter"]  # Fig. 4b
FIXED_GROUPS = ["random patches", "fixed random patches"]  # section 4.3

# section 4.3's statements beyond focusmim.evaluation.paper.CLAIMS, judged inside chapter 3's table (focusmim.evaluation.claims)
CLAIMS = {
    "crop does not matter for foveal": Claim("foveal filter, no crop", "~", "foveal filter", 0.03),
    "fixed masks alone do not hurt": Claim("fixed random patches", ">=", "random patches", 0.02),
    "fixed masks without crop hurt": Claim("fixed random patches, no crop", "<", "fixed random patches", 0.02),
}


def grouped(values: Mapping[str, Any], groups: Sequence[str]) -> dict[str, list]:
    """Split condition -> value into ``{"crop": [...], "no crop": [...]}`` in ``groups`` order
    (missing conditions give None)."""
    return {"crop": [values.get(g) for g in groups], "no crop": [values.get(f"{g}, no crop") for g in groups]}


@register(NAME)
def compute(nb, store: RunStore | None = None, progress: bool = True) -> dict:
    """Chapter 3 for the notebook context ``nb``: ``table`` (one row per condition in
    :data:`CONDITIONS`, with ``crop`` and ``fixed`` columns), ``crop`` and ``fixed``
    (grouped means and stds for the figures)."""
    store = store if store is not None else RunStore()
    table = compare(nb.base, CONDITIONS, seeds=nb.ablation_seeds, probe_seeds=nb.probe_seeds, store=store,
                    title="Augmentation and fixed masks", progress=progress)
    for row in table.rows:
        over = CONDITIONS[row["condition"]]
        row["crop"] = over.get("crop", True)
        row["fixed"] = bool(over.get("masker_params", {}).get("fixed", False))
    means = {r["condition"]: r["accuracy_mean"] for r in table.rows}
    stds = {r["condition"]: r["accuracy_std"] for r in table.rows}
    out = {"table": table}
    for key, groups in (("crop", CROP_GROUPS), ("fixed", FIXED_GROUPS)):
        m, s = grouped(means, groups), grouped(stds, groups)
        out[key] = {"groups": list(groups), "series": {k: (m[k], s[k]) for k in m}}
    return out
