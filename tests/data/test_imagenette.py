"""The imagenette dataset: found where the book keeps it, or downloaded as fast.ai's archive and converted
to 96 px (tested offline on a small archive written here), read by the imagefolder reader, keyed by content."""
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from focusmim import data
from focusmim.config import ConfigError, make_config
from focusmim.data import imagenette
from focusmim.data.base import find_imagenette
from tests.conftest import need_external

WNIDS = ["n01440764", "n03028079"]  # tench, church


def _archive(path: Path, per_class=(3, 2), size=(213, 160)) -> Path:
    """A tiny imagenette2-160.tgz: <top>/{train,val}/<wnid>/*.JPEG, non-square like the real one."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split, k in zip(("train", "val"), per_class):
            for wnid in WNIDS:
                for i in range(k):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG")
                    info = tarfile.TarInfo(f"imagenette2-160/{split}/{wnid}/{wnid}_{i}.JPEG")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
        info = tarfile.TarInfo("imagenette2-160/noisy_imagenette.csv")  # other files are skipped
        info.size = 3
        tar.addfile(info, io.BytesIO(b"a,b"))
    return path


def test_prepare_converts_the_archive_into_the_96_px_layout(tmp_path):
    out = imagenette.prepare(_archive(tmp_path / "a.tgz"), tmp_path / "imagenette96")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert len(files) == 10 and files[0] == "test/church/n03028079_0.jpg"
    assert {p.split("/")[1] for p in files} == {"tench", "church"}
    with Image.open(out / "train" / "tench" / "n01440764_0.jpg") as im:
        assert im.size == (96, 96) and im.mode == "RGB"
    assert not list(tmp_path.glob(".imagenette-*"))  # the temporary folder was renamed into place
    assert imagenette.prepare(tmp_path / "missing.tgz", out) == out  # already there: nothing read


def test_an_archive_without_imagenette_images_is_named(tmp_path):
    with tarfile.open(tmp_path / "x.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("top/readme.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="x.tgz holds no Imagenette images"):
        imagenette.prepare(tmp_path / "x.tgz", tmp_path / "out")


def test_download_true_fetches_converts_and_loads_offline(tmp_path, monkeypatch):
    """The download path end to end, with the archive served from a file:// URL."""
    archive = _archive(tmp_path / "imagenette2-160.tgz")
    monkeypatch.setattr(imagenette, "URL", archive.as_uri())
    monkeypatch.setattr(imagenette, "find_root", lambda root=None: None if root is None else find_imagenette(root))
    monkeypatch.setattr(imagenette.download_archive, "__defaults__", (None, archive.as_uri()))
    ds = data.load("imagenette", "train", download=True, cache_dir=tmp_path / "cache")
    assert ds.images.shape == (6, 3, 96, 96) and ds.classes == ["church", "tench"] and ds.name == "imagenette"
    assert (tmp_path / "cache" / "imagenette96" / "test" / "church").is_dir()


def test_missing_data_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(imagenette, "find_root", lambda root=None: None)
    with pytest.raises(ValueError, match="dataset 'imagenette' not found.*download=True"):
        data.load("imagenette", "train")
    with pytest.raises(ValueError, match="holds no imagenette96 folder"):
        data.load("imagenette", "train", root=tmp_path)
    with pytest.raises(ConfigError, match="data_root='/nonexistent/x' does not exist"):
        make_config("smoke", dataset="imagenette", data_root="/nonexistent/x")


def test_the_run_key_holds_the_datas_fingerprint(tmp_path):
    a = imagenette.prepare(_archive(tmp_path / "a.tgz"), tmp_path / "a" / "imagenette96")
    b = imagenette.prepare(_archive(tmp_path / "b.tgz", per_class=(4, 2)), tmp_path / "b" / "imagenette96")
    ka = make_config("smoke", dataset="imagenette", image_size=96, data_root=str(a)).key()
    kb = make_config("smoke", dataset="imagenette", image_size=96, data_root=str(b)).key()
    assert ka != kb  # other images, other runs
    moved = tmp_path / "elsewhere" / "imagenette96"
    moved.parent.mkdir()
    a.rename(moved)  # the same files under another folder: the same key
    assert make_config("smoke", dataset="imagenette", image_size=96, data_root=str(moved)).key() == ka


def test_the_shared_copy_is_the_one_the_book_trained_on():
    root = need_external(find_imagenette(None), "imagenette96",
                         "put it at ../shared/data/imagenette96 or $FOCUSMIM_DATA/imagenette96")
    ds = data.load("imagenette", "test", n=20)
    assert ds.images.shape == (20, 3, 96, 96) and len(ds.classes) == 10
    counts = data.imagefolder.survey(root)["counts"]
    assert counts == {"train": 9469, "test": 3925, "unlabeled": 9469}
    # the book's 96 px runs (results/store) were keyed with this copy's fingerprint
    assert make_config("imagenette").key() == "9f94b16126a9ef45"
