"""focusmim.store.zoo: trained models as fp16 safetensors with a manifest, loaded offline with their checksum checked;
the committed zoo (zoo/) matches its manifest and its runs in results/store."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import focusmim as fm
from focusmim.store import zoo
from focusmim.config import Config, make_config
from focusmim.utils.io import file_digest
from focusmim.store.runs import Run, RunStore
from focusmim.training.train import pretrain

ROOT = Path(__file__).resolve().parents[2]
NAME = "tiny-random-patches"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A one-epoch run (weights kept), exported and added to a zoo of its own: ``(run, zoo folder, entry)``."""
    root = tmp_path_factory.mktemp("zoo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FOCUSMIM_CACHE", str(root / "cache"))
        run = pretrain(make_config("smoke", epochs=1, n_unlabeled=64, batch_size=32, width=0.25),
                       RunStore(root / "runs"), progress=False)
    path = zoo.export(run, root / "out" / "exported.safetensors", name=NAME)
    e = zoo.add(path, root / "zoo", run=run, accuracy=0.5)
    return run, root / "zoo", e


def _images(n=4, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_a_model_comes_back_from_the_zoo_as_it_was_trained(tiny):
    run, folder, e = tiny
    model = fm.load_pretrained(NAME, folder=folder)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    x = _images()
    with torch.no_grad():
        got, want = model(x)[0], run.load_model("best")(x)[0]
    # fp16 weights (11 significant bits): the reconstructions agree to within that rounding
    torch.testing.assert_close(got, want, atol=3e-3, rtol=0)
    by_key = fm.load_pretrained(run.dir.name, folder=folder)  # the run key names it too
    assert all(torch.equal(a, b) for a, b in zip(by_key.state_dict().values(), model.state_dict().values()))
    assert model.weights_source == {"zoo": NAME, "key": run.dir.name, "precision": "fp16", "sha256": e["sha256"][:12]}


def test_the_manifest_entry_says_what_the_model_is_and_cost(tiny):
    run, folder, e = tiny
    [stored] = zoo.manifest(folder)
    assert stored == json.loads(json.dumps(e))
    assert e["file"] == f"{NAME}.safetensors" and (folder / e["file"]).stat().st_size == e["bytes"]
    assert e["sha256"] == file_digest(folder / e["file"]) and e["run_key"] == run.dir.name
    assert Config.from_dict(e["config"]).key() == run.dir.name and e["accuracy"] == 0.5
    assert e["final_loss"] == run.metrics["loss"][-1] and e["precision"] == "fp16"
    b = e["budget"]
    assert (b["epochs"], b["images"], b["images_seen"], b["precision"]) == (1, 64, 64, "fp32")
    assert b["device"].startswith("CPU") and b["wall_time_s"] == run.metrics["wall_time_s"]
    assert "data_fingerprint" in e  # None for synthetic data (its identity is the generator's version)
    table = fm.pretrained(folder)
    row = table.iloc[0]
    assert (row["name"], row["data"], row["px"], row["epochs"], row["accuracy"], row["run_key"]) == (
        NAME, "synthetic", 32, 1, 0.5, run.dir.name)


def test_a_damaged_file_is_named_and_never_loaded(tiny, tmp_path):
    _, folder, e = tiny
    copy = tmp_path / "zoo"
    shutil.copytree(folder, copy)
    path = copy / e["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the weights
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match=f"zoo file {path} is damaged.*restore it from git"):
        zoo.load_pretrained(NAME, folder=copy)
    assert zoo.check(copy) and str(path) in zoo.check(copy)[0]
    path.write_bytes(bytes(data[:1000]))  # truncated (a partial download or an LFS pointer)
    with pytest.raises(zoo.ZooError, match="1,000 bytes"):
        zoo.load_pretrained(NAME, folder=copy)
    path.unlink()
    with pytest.raises(zoo.ZooError, match="is missing"):
        zoo.load_pretrained(NAME, folder=copy)
    assert zoo.check(folder) == []


def test_an_unknown_name_lists_the_zoo(tiny, tmp_path):
    _, folder, _ = tiny
    with pytest.raises(zoo.ZooError, match=f"name='nope' is not in the zoo at {folder}; allowed: {NAME} "):
        fm.load_pretrained("nope", folder=folder)
    with pytest.raises(zoo.ZooError, match="none \\(the zoo is empty\\)"):
        fm.load_pretrained("nope", folder=tmp_path)
    assert fm.pretrained(tmp_path).empty and list(fm.pretrained(tmp_path).columns)[:3] == ["name", "data", "px"]
    (tmp_path / zoo.MANIFEST).write_text("{")
    with pytest.raises(zoo.ZooError, match="manifest .* is damaged"):
        zoo.manifest(tmp_path)


def test_add_refuses_what_does_not_belong(tiny, tmp_path, monkeypatch):
    run, folder, e = tiny
    other = Run(run.dir.with_name("0" * 16), run.config)
    with pytest.raises(zoo.ZooError, match="the run it was exported from"):
        zoo.add(folder / e["file"], tmp_path, run=other)
    monkeypatch.setattr(zoo, "MAX_FILE_BYTES", 1000)
    with pytest.raises(zoo.ZooError, match="at most 1,000"):
        zoo.add(folder / e["file"], tmp_path)
    assert not list(tmp_path.iterdir())
    shutil.copyfile(folder / e["file"], tmp_path / "stray.safetensors")
    assert zoo.check(tmp_path) == [f"zoo file {tmp_path / 'stray.safetensors'} is not in {tmp_path / zoo.MANIFEST}"]


def test_a_run_without_its_weights_loads_its_zoo_model(tiny, tmp_path, monkeypatch):
    run, folder, _ = tiny
    shutil.copytree(run.dir, tmp_path / run.dir.name)
    for p in (tmp_path / run.dir.name).glob("*.pt"):  # as the book's store: no weights
        p.unlink()
    bare = RunStore(tmp_path).get(run.config)
    assert bare is not None and not bare.has_model("best")
    with pytest.raises(FileNotFoundError, match="no zoo model of run"):
        bare.load_model("best")
    monkeypatch.setenv("FOCUSMIM_ZOO", str(folder))
    assert bare.has_model("best") and not bare.has_model("last")
    model = bare.load_model("best")
    assert model.weights_source["zoo"] == NAME
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], run.load_model("best")(x)[0], atol=3e-3, rtol=0)
    assert run.load_model("best").weights_source is None  # a run's own checkpoint comes first
    with pytest.raises(FileNotFoundError, match="last.pt"):
        bare.load_model("last")  # the zoo holds the best weights only


def test_a_zoo_model_is_probed_with_its_runs_protocol(tiny):
    from focusmim.evaluation.probe import evaluate

    run, folder, _ = tiny
    got = fm.probe_pretrained(NAME, folder=folder)
    want = evaluate(run, seeds=(0,))  # the run's fp32 weights
    assert got["same_data"] and got["run_key"] == run.dir.name and got["precision"] == "fp16"
    assert (got["n_train"], got["n_test"], got["dim"]) == (want["n_train"], want["n_test"], want["dim"])
    assert got["accuracy_mean"] == pytest.approx(want["accuracy_mean"], abs=0.05)
    assert got["knn_accuracy"] == pytest.approx(want["knn_accuracy"], abs=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (checked on the GPU machine)")
def test_zoo_models_load_on_cuda_in_the_asked_dtype(tiny):
    run, folder, _ = tiny
    x = _images()
    for dtype, atol in ((torch.float32, 3e-3), (torch.bfloat16, 3e-2)):
        model = zoo.load_pretrained(NAME, device="cuda", dtype=dtype, folder=folder)
        assert {p.device.type for p in model.parameters()} == {"cuda"} and next(model.parameters()).dtype == dtype
        with torch.no_grad():
            got = model(x.to("cuda", dtype))[0].float().cpu()
            torch.testing.assert_close(got, run.load_model("best")(x)[0], atol=atol, rtol=0)


# ------------------------------------------------------------------------------------------- the committed zoo
def committed() -> list[dict]:
    return zoo.manifest(ROOT / "zoo")


def test_the_committed_zoo_matches_its_manifest_and_every_model_loads():
    entries = committed()
    assert len(entries) >= 6 and zoo.check(ROOT / "zoo") == []
    assert sum(e["bytes"] for e in entries) <= 40_000_000
    x = _images(2, 96)
    for e in entries:
        assert e["bytes"] <= zoo.MAX_FILE_BYTES == 4 * 2**20
        model = zoo.load_pretrained(e["name"], folder=ROOT / "zoo")
        with torch.no_grad():
            recon, z = model(x)
        assert recon.shape == x.shape and torch.isfinite(z).all(), e["name"]


def test_the_committed_zoo_is_tracked_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [f"zoo/{e['file']}" for e in committed()] + ["zoo/manifest.json"]
    ignored = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)
    assert ignored.returncode == 1 and ignored.stdout == "", f"git ignores {ignored.stdout.split()}"


def test_the_committed_zoo_says_what_its_runs_recorded():
    store = ROOT / "results" / "store"
    for e in committed():
        d = store / e["run_key"]
        run = Run(d, Config.from_dict(json.loads((d / "config.json").read_text())))
        assert run.config.to_dict() == Config.from_dict(e["config"]).to_dict()
        assert run.metrics["loss"][-1] == e["final_loss"] and e["budget"]["epochs"] == run.config.epochs
        best = [run.load_json(p.name) for p in d.glob("probe-*.json")]
        assert e["accuracy"] in [p["accuracy_mean"] for p in best if p.get("which") == "best"]
        assert (ROOT / e["training_log"]).read_text() == run.read_bytes("metrics.csv").decode()
        assert e["name"].startswith(f"{e['dataset']}{e['image_size']}-")


def test_the_readme_table_is_the_manifest():
    import re

    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\w+) \| (\d+) \| (\w+) \| (\d+) \| ([\d.]+) % \| ([\d.]+) \|$", text, re.M)
    want = [(e["name"], e["dataset"], str(e["image_size"]), e["masker"], str(e["epochs"]),
             f"{100 * e['accuracy']:.1f}", f"{e['bytes'] / 1e6:.1f}") for e in committed()]
    assert rows == want
