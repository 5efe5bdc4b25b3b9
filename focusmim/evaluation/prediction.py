"""A prediction for longer runs: probe accuracy against log(epochs), fitted per pretraining seed.

The method, stated once (the results page repeats it):

* for each pretraining seed ``s``, an ordinary least-squares fit of ``accuracy = a_s + b_s * ln(epochs)`` over
  the epochs the curve was probed at (:func:`fit_log`; with three budgets, three points a line);
* the prediction at ``E`` epochs is the mean over seeds of ``a_s + b_s * ln(E)``, with a 95 % Student-t
  interval over the seeds' predictions (:func:`predict`; ``n - 1`` degrees of freedom): it holds the spread
  between seeds only, not the error of the straight line itself;
* a difference between two strategies is fitted the same way on the per-seed differences, paired by
  pretraining seed (the difference of two lines is a line: :func:`difference_fits`); the epoch at which one
  strategy's line passes another's is where the seeds' mean difference line crosses zero (:func:`crossing`).

Three points extrapolated tenfold is a weak basis: the page labels every number from here a prediction,
and a longer run tests it (:func:`compare_measured`).

Pure functions of numbers: nothing is trained or loaded.

Example:
    >>> points = {0: [(10, 0.43), (25, 0.48), (50, 0.53)], 1: [(10, 0.42), (25, 0.46), (50, 0.52)],
    ...           2: [(10, 0.44), (25, 0.48), (50, 0.52)]}
    >>> p = predict(seed_fits(points), 500)
    >>> round(p["mean"], 3), p["n"], p["low"] < p["mean"] < p["high"]
    (0.652, 3, True)
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from focusmim.evaluation.claims import t_interval

__all__ = ["FIT_EPOCHS", "PREDICT_AT", "fit_log", "seed_fits", "value_at", "predict", "difference_fits",
           "crossing", "compare_measured", "METHOD"]

FIT_EPOCHS = (10, 25, 50)  # the budgets the prediction is made from (chapter 1's curves at 96 px)
PREDICT_AT = (100, 500)  # the budgets it predicts (500: the paper's)
METHOD = ("per-seed least-squares fit of accuracy = a + b ln(epochs) over the epochs {fit}; prediction: the "
          "mean over pretraining seeds of each seed's line at that budget, with a 95 % Student-t interval over "
          "the seeds' predictions (the spread between seeds only, not the error of the straight line)")


def fit_log(epochs: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of the least-squares line ``value = a + b * ln(epoch)``; needs two distinct epochs.

        >>> a, b = fit_log([10, 100], [0.4, 0.6]); round(b * math.log(10), 6), round(a + b * math.log(10), 6)
        (0.2, 0.4)
    """
    if len(epochs) != len(values):
        raise ValueError(f"epochs has {len(epochs)} entries and values {len(values)}; allowed: one value per epoch")
    if any(not e > 0 for e in epochs):
        raise ValueError(f"epochs={list(epochs)!r} is not allowed; allowed: epochs > 0 (their logarithm is fitted)")
    xs = [math.log(e) for e in epochs]
    if len(set(xs)) < 2:
        raise ValueError(f"epochs={list(epochs)!r} is not allowed; allowed: at least two distinct epochs")
    mx, my = sum(xs) / len(xs), sum(values) / len(values)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, values)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def value_at(fit: tuple[float, float], epochs: float) -> float:
    """The line ``fit = (a, b)`` at ``epochs``: ``a + b * ln(epochs)``."""
    return fit[0] + fit[1] * math.log(epochs)


def seed_fits(points: Mapping[int, Sequence[tuple[float, float]]]) -> dict[int, tuple[float, float]]:
    """seed -> :func:`fit_log` of that seed's ``(epoch, value)`` points."""
    return {s: fit_log([e for e, _ in pts], [v for _, v in pts]) for s, pts in points.items()}


def predict(fits: Mapping[int, tuple[float, float]], epochs: float) -> dict:
    """The seeds' lines at ``epochs``: ``mean``, ``low``/``high`` (95 % Student-t interval over the seeds'
    predictions; ``None`` with one seed), ``n`` (seeds) and ``seeds`` (each seed's prediction)."""
    if not fits:
        raise ValueError("fits is empty; allowed: at least one seed's fit (seed_fits)")
    per = {s: value_at(f, epochs) for s, f in fits.items()}
    mean, lo, hi = t_interval(list(per.values()))
    return {"epochs": epochs, "mean": mean, "low": None if math.isnan(lo) else lo,
            "high": None if math.isnan(hi) else hi, "n": len(per), "seeds": per}


def difference_fits(fits_a: Mapping[int, tuple[float, float]],
                    fits_b: Mapping[int, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """seed -> the line of ``a - b`` (intercepts and slopes subtracted), for the seeds both have.

        >>> difference_fits({0: (0.5, 0.1), 1: (0.4, 0.1)}, {0: (0.3, 0.05), 2: (0.0, 0.0)})
        {0: (0.2, 0.05)}
    """
    return {s: (fits_a[s][0] - fits_b[s][0], fits_a[s][1] - fits_b[s][1]) for s in sorted(set(fits_a) & set(fits_b))}


def crossing(fits: Mapping[int, tuple[float, float]], after: float, up_to: float) -> dict:
    """Where the seeds' mean difference line ``A + B ln(E)`` (``A``, ``B``: the seeds' mean intercept and
    slope) crosses zero, looking from ``after`` epochs (the last measured budget) to ``up_to``.

    Returns ``epochs`` (the crossing, or ``None``), ``sign_now`` (the line's sign at ``after``: +1, -1 or 0),
    ``closing`` (whether ``|A + B ln(E)|`` shrinks with E) and ``text`` (one phrase).

        >>> crossing({0: (-0.30, 0.06)}, after=50, up_to=500)["epochs"]  # zero at exp(5)
        148.4
        >>> crossing({0: (-0.30, 0.01)}, after=50, up_to=500)["text"]
        'not within 500 epochs (the line reaches zero at about 1.1e+13 epochs)'
        >>> crossing({0: (-0.30, -0.01)}, after=50, up_to=500)["text"]
        'never: the gap widens with epochs'
    """
    if not fits:
        raise ValueError("fits is empty; allowed: at least one seed's difference line (difference_fits)")
    A = sum(f[0] for f in fits.values()) / len(fits)
    B = sum(f[1] for f in fits.values()) / len(fits)
    now = A + B * math.log(after)
    sign = (now > 0) - (now < 0)
    closing = sign != 0 and B != 0 and (B > 0) != (sign > 0)
    out = {"epochs": None, "sign_now": sign, "closing": closing, "intercept": A, "slope": B}
    if sign == 0:
        return {**out, "epochs": float(after), "text": f"at {after:g} epochs (the lines meet there)"}
    if not closing:
        return {**out, "text": "never: the gap widens with epochs" if B != 0 else "never: the gap stays the same"}
    log_e = -A / B
    if log_e > 700:  # beyond any float: exp overflows
        return {**out, "text": f"not within {up_to:g} epochs (the line reaches zero only beyond 1e300 epochs)"}
    e = math.exp(log_e)
    if e > up_to:
        return {**out, "text": f"not within {up_to:g} epochs (the line reaches zero at about {e:.2g} epochs)"}
    return {**out, "epochs": round(e, 1), "text": f"at about {e:.0f} epochs"}


def compare_measured(prediction: Mapping, measured: float | None) -> str:
    """Where a measurement lies against a prediction's interval: ``inside``, ``above``, ``below``, or ``""``
    (nothing measured, or no interval).

        >>> p = {"mean": 0.6, "low": 0.55, "high": 0.65}
        >>> compare_measured(p, 0.58), compare_measured(p, 0.7), compare_measured(p, 0.5), compare_measured(p, None)
        ('inside', 'above', 'below', '')
    """
    lo, hi = prediction.get("low"), prediction.get("high")
    if measured is None or lo is None or hi is None:
        return ""
    return "below" if measured < lo else "above" if measured > hi else "inside"
