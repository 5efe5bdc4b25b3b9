"""The published numbers we compare against, with where they come from.

Brucklacher, Weiler, Pennartz and Bohte, "Masked Image Modeling as a
Framework for Self-Supervised Learning across Eye Movements" (FocusMIM): values
read off Figure 4a-c (STL-10, linear probe, test accuracy; about +-0.5 points),
and the covert-attention prediction errors of section 4.5.

Example:
    >>> PAPER_ACCURACY["random patches"]
    0.702
    >>> claim_holds("patches >= periphery", {"random patches": 0.70, "masked periphery": 0.69})
    True
"""
from __future__ import annotations

from focusmim.evaluation.claims import Claim

__all__ = ["PAPER_ACCURACY", "PAPER_COVERT_ERROR", "COMPARISON_LINES", "CLAIMS", "claim_holds", "CITATIONS"]

CITATIONS = {
    "focusmim": "Brucklacher, Weiler, Pennartz, Bohte: Masked Image Modeling as a Framework for "
                "Self-Supervised Learning across Eye Movements (code: github.com/RobinWeiler/FocusMIM)",
    "adios": "Shi, Siddharth, Torr, Kosiorek: Adversarial Masking for Self-Supervised Learning, ICML 2022",
}

# condition name (as used in the book's tables) -> linear-probe accuracy on STL-10
PAPER_ACCURACY = {
    "random patches": 0.702,
    "masked periphery": 0.679,
    "foveal filter": 0.499,
    "plain autoencoder": 0.470,
    "raw pixels": 0.359,
    "masked periphery, no crop": 0.567,
    "random patches, no crop": 0.702,
    "blurry random patches": 0.565,
    "blurry periphery": 0.490,
}

# other SSL methods the paper draws as horizontal lines (STL-10)
COMPARISON_LINES = {"CLAPP-BP": 0.791, "CLAPP-local": 0.736, "LPL-BP": 0.725, "LPL-local": 0.632}

# foreground prediction error of a periphery-trained model, without -> with the covert-attention disc
PAPER_COVERT_ERROR = {"without": 2.6e-2, "with": 2.3e-2}

# the paper's qualitative claims, each judged inside one table from per-seed differences (focusmim.evaluation.claims);
# the margins are in accuracy (0.01 = one point)
CLAIMS = {
    "patches >= periphery": Claim("random patches", ">=", "masked periphery", 0.01),
    "periphery >> foveal": Claim("masked periphery", ">>", "foveal filter", 0.02),
    "foveal ~ autoencoder": Claim("foveal filter", "~", "plain autoencoder", 0.05),
    "autoencoder > raw pixels": Claim("plain autoencoder", ">", "raw pixels"),
    "blur hurts patches": Claim("blurry random patches", "<", "random patches"),
    "blur hurts periphery": Claim("blurry periphery", "<", "masked periphery"),
    "crop matters for periphery": Claim("masked periphery, no crop", "<", "masked periphery", 0.02),
    "crop does not matter for patches": Claim("random patches, no crop", "~", "random patches", 0.03),
}


def claim_holds(claim: str, values: dict) -> bool | None:
    """The claim's threshold applied to mean values (condition -> mean), without an interval; None if a
    condition is missing. Verdicts in the book come from :func:`focusmim.evaluation.claims.judge` (per-seed
    differences inside one table); this is the quick reading of two numbers."""
    if claim not in CLAIMS:
        raise ValueError(f"claim={claim!r} is not known; allowed: {', '.join(CLAIMS)}")
    return CLAIMS[claim].on_means(values)
