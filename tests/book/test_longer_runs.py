"""Tests of focusmim.book.longer_runs: the budget curve's prediction beside the longer runs."""
from __future__ import annotations


from focusmim.book import report
from tests.book.reporttools import META, _curves, _own_results, _row, _seeds, _store  # noqa: F401


def test_the_prediction_for_longer_runs_and_a_measurement_beside_it():
    from focusmim.experiments import load_tables

    meta = {**META, "dataset": "imagenette", "image_size": 96, "epochs": 50, "curve_epochs": [10, 25, 50],
            "seeds": [0, 1, 2]}
    main = [_seeds(c, [0.5, 0.51, 0.52], decorrelation_epochs=[50, 50, 50], epochs=50)
            for c in ("random patches", "masked periphery", "foveal filter")]
    _store("imagenette", "01_masking_strategy", main, meta)
    _store("imagenette", "01_masking_strategy-curves", _curves(), meta)
    text = report.summary_markdown()
    section = text.split("## A prediction for longer runs")[1]
    assert "**A prediction, not a result.**" in section and "weak basis" in section
    assert "measured at 100 epochs" not in section  # nothing longer run yet
    # the lines are exact: the prediction at 500 epochs is the line itself, the interval the seeds' spread
    assert "| random patches | 30.7 / 39.0 / 45.2 % | +6.2 | 51.4 [50.7, 52.2] % | 65.9 [65.2, 66.7] % |" in section
    # masked periphery gains 3 points per e-fold on foveal filter, from -15 at 1 epoch: the lines cross at e^5
    assert "| masked periphery − foveal filter | -3.3 [-3.3, -3.3] | -1.2 [-1.2, -1.2] | +3.6 [+3.6, +3.6] | " \
        "at about 148 epochs |" in section
    assert "the masked periphery's line passes the foveal filter's at about 148 epochs: the gap is predicted to " \
        "close within 500 epochs" in section
    assert "the masked periphery's line does not gain on the random patches': the gap is predicted to widen" in section
    assert "(50)." in section  # the epoch of every lowest-loss checkpoint
    lr = report.longer_runs(*(load_tables(n)["imagenette"] for n in ("01_masking_strategy-curves",
                                                                       "01_masking_strategy")))
    assert lr["fit_epochs"] == [10, 25, 50] and lr["best_epochs"] == [50] * 9
    # a longer run exists: its measurement beside the prediction, inside / above / below its interval
    rows = _curves(extra_epoch=100)
    for r in rows:
        if r["epoch"] == 100 and r["condition"] == "foveal filter":
            r["seed_accuracies"] = [a + 0.05 for a in r["seed_accuracies"]]  # better than the line predicts
    _store("imagenette", "01_masking_strategy-curves", rows, {**meta, "curve_epochs": [10, 25, 50, 100]})
    section = report.summary_markdown().split("## A prediction for longer runs")[1]
    assert "| predicted at 100 epochs | measured at 100 epochs | predicted at 500 epochs |" in section
    assert "| random patches | 30.7 / 39.0 / 45.2 % | +6.2 | 51.4 [50.7, 52.2] % | 51.4 [50.7, 52.2] % (inside) |" \
        in section
    assert "| foveal filter |" in section and "(above) |" in section
    # the 100-epoch row is a measurement, not fitted: the prediction stays what it was
    assert "| masked periphery − foveal filter | -3.3 [-3.3, -3.3] | -1.2 [-1.2, -1.2] | -6.2 [-6.2, -6.2] (below) |" \
        in section
