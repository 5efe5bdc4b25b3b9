"""Tests of focusmim.cli.main_job: what the main job prints after its table."""
from pathlib import Path



STORE = Path(__file__).resolve().parents[2] / "results" / "store"


def test_the_main_job_report_names_a_probe_that_learned_nothing():
    from types import SimpleNamespace

    from focusmim.cli import probe_notes
    from focusmim.experiments import Table

    refitted = {"accuracy": 0.21, "train_accuracy": 0.3, "first_fit": {"accuracy": 0.09},
                "retry": "refitted on standardised features: the raw-feature head learned nothing (...)"}
    failed = {"accuracy": 0.1, "train_accuracy": 0.1, "failed": True, "reason": "train accuracy 10.0 % (...)"}

    class Cached:
        def __init__(self, seed, per_seed):
            self.config = SimpleNamespace(seed=seed)
            self.res = {"seeds": [0], "per_seed": per_seed, "accuracy_mean": per_seed[0]["accuracy"]}

        def load_json(self, name):
            return self.res

    t = Table("t", [dict(condition="masked periphery", accuracy_mean=0.15, accuracy_std=0.05, knn=0.2)],
              meta={"probe_seeds": [0], "probe": {"lr": 3e-3}},
              runs={"masked periphery": [Cached(1, [refitted]), Cached(2, [failed])]})
    notes = probe_notes(t, 0.1)
    assert notes[0] == ("Probe of masked periphery, pretraining seed 1, probe seed 0: refitted on standardised "
                        "features: the raw-feature head learned nothing (...): 9.0 % -> 21.0 %.")
    assert notes[1].startswith("Probe of masked periphery, pretraining seed 2, probe seed 0: train accuracy 10.0 %")
    assert notes[2] == ("Masked periphery is below 2x chance (1.5x): its probe learned nothing on some seeds "
                        "(above).")
