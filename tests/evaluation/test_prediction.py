"""focusmim.evaluation.prediction: accuracy against log(epochs) per seed, predictions with an interval over seeds."""
import math

import pytest

from focusmim.evaluation.prediction import (compare_measured, crossing, difference_fits, fit_log, predict, seed_fits)


def test_the_fit_is_least_squares_in_log_epochs():
    a, b = fit_log([10, 25, 50], [0.40 + 0.05 * math.log(e) for e in (10, 25, 50)])
    assert (a, b) == (pytest.approx(0.40), pytest.approx(0.05))
    # three points off a line: the least-squares line (numpy's polyfit agrees)
    a, b = fit_log([10, 25, 50], [0.434, 0.478, 0.536])
    assert (a, b) == (pytest.approx(0.285906, abs=1e-6), pytest.approx(0.062573, abs=1e-6))
    with pytest.raises(ValueError, match="two distinct"):
        fit_log([10, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match="epochs > 0"):
        fit_log([0, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match="one value per epoch"):
        fit_log([10, 20], [0.1])


def test_the_prediction_is_the_seeds_mean_with_a_students_t_interval():
    fits = {0: (0.30, 0.05), 1: (0.31, 0.05), 2: (0.29, 0.05)}
    p = predict(fits, 100)
    assert p["mean"] == pytest.approx(0.30 + 0.05 * math.log(100)) and p["n"] == 3
    assert p["high"] - p["mean"] == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    one = predict({0: (0.3, 0.05)}, 100)
    assert one["low"] is None and one["high"] is None  # one seed: no interval
    with pytest.raises(ValueError, match="fits is empty"):
        predict({}, 100)


def test_differences_pair_seeds_and_the_crossing_reads_the_mean_line():
    a = seed_fits({0: [(10, 0.30), (50, 0.40)], 1: [(10, 0.31), (50, 0.41)]})
    b = seed_fits({0: [(10, 0.40), (50, 0.42)], 1: [(10, 0.41), (50, 0.43)], 2: [(10, 0.5), (50, 0.5)]})
    d = difference_fits(a, b)
    assert sorted(d) == [0, 1]  # seed 2 has no partner
    c = crossing(d, after=50, up_to=500)
    # a gains 0.08 on b from 10 to 50 epochs (a factor 5) and trails by 0.02 at 50: zero at 50 * 5 ** (0.02 / 0.08)
    assert c["closing"] and c["sign_now"] == -1
    assert c["epochs"] == pytest.approx(50 * 5 ** 0.25, abs=0.1) and c["text"] == "at about 75 epochs"
    far = crossing({0: (-0.5, 0.01)}, after=50, up_to=500)
    assert far["epochs"] is None and far["text"].startswith("not within 500 epochs")
    assert crossing({0: (-0.5, 1e-6)}, 50, 500)["text"].endswith("beyond 1e300 epochs)")
    assert crossing({0: (0.1, 0.01)}, 50, 500)["text"] == "never: the gap widens with epochs"
    assert crossing({0: (0.1, 0.0)}, 50, 500)["text"] == "never: the gap stays the same"
    assert crossing({0: (-0.1 * math.log(50), 0.1)}, 50, 500)["epochs"] == 50.0


def test_a_measurement_lies_inside_above_or_below_the_interval():
    p = {"mean": 0.6, "low": 0.55, "high": 0.65}
    assert [compare_measured(p, m) for m in (0.55, 0.65, 0.549, 0.651)] == ["inside", "inside", "below", "above"]
    assert compare_measured({"mean": 0.6, "low": None, "high": None}, 0.6) == ""
