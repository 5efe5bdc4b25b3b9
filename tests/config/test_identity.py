"""Tests for focusmim.config.identity: data fingerprints in run keys (own folders never share a key, official data keep theirs)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from focusmim.config import make_config
from focusmim.config import identity

from tests.data.datatools import make_tree


# ----------------------------------------------------------------------------- identity in run keys
def test_different_data_never_share_a_key(tmp_path):
    one, two = make_tree(tmp_path / "one"), make_tree(tmp_path / "two", n_train=5)
    same = make_tree(tmp_path / "elsewhere" / "copy")  # same files, other path: same key
    key = lambda r, ds="imagefolder": make_config("smoke", dataset=ds, data_root=str(r)).key()  # noqa: E731
    assert key(one) != key(two)
    assert key(one) == key(same)
    # own images pointed at as 'cifar10' (train/ and test/ tree) no longer take the official data's key
    base = make_config("smoke", dataset="cifar10", data_root=str(tmp_path / "missing"), download=True)
    assert key(one, "cifar10") != base.key() and key(one, "cifar10") != key(two, "cifar10")
    d = make_config("smoke", dataset="cifar10", data_root=str(one)).to_dict()
    assert "data_fingerprint" not in d  # the fingerprint is in the key, not a config field


def test_official_data_keep_their_keys(tmp_path, monkeypatch):
    # the official files are recognised by content: torchvision's published md5 list for CIFAR-10's batches
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(identity, "_md5", lambda p: dict(CIFAR10.train_list + CIFAR10.test_list)
                        .get(p.name, CIFAR10.meta["md5"]))
    folder = tmp_path / "tv" / CIFAR10.base_folder
    folder.mkdir(parents=True)
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        (folder / name).write_bytes(b"")
    (folder / "batches.meta").write_bytes(b"")
    cfg = make_config("smoke", dataset="cifar10", data_root=str(tmp_path / "tv"))
    assert identity.fingerprint("cifar10", cfg.data_root) in identity.canonical("cifar10")
    assert identity.key_fingerprint(cfg) is None
    # a changed batch file is other data
    identity._MEMO.clear()
    (folder / "test_batch").write_bytes(b"x")
    monkeypatch.setattr(identity, "_md5", lambda p: "0" * 32)
    assert identity.key_fingerprint(cfg) is not None


def test_committed_store_keys_are_unchanged(monkeypatch):
    """Every committed CIFAR-10 run still has its folder's key (the official data add nothing). The blurry
    periphery, foveal and object-disc runs stored before the paper's learning-rate rule and the maskers'
    versions joined their keys are checked as they were keyed then; runs trained since, with today's keys
    (tests/test_config.py checks those changes)."""
    store = Path(__file__).resolve().parents[2] / "results" / "store"
    import focusmim.config.core as config_module
    import focusmim.config.schemas as schemas
    from focusmim.config import Config

    checked = 0
    for d in sorted(p.parent for p in store.glob("*/config.json")):  # the store also holds tables/
        c = json.loads((d / "config.json").read_text())
        if c["dataset"] != "cifar10":
            continue
        c.update(crop_scale=tuple(c["crop_scale"]), snapshot_epochs=tuple(c["snapshot_epochs"]))
        with monkeypatch.context() as m:  # as keyed before those rules joined the key
            m.setattr(config_module, "LR_RULE_VERSION", {})
            m.setattr(schemas, "FOVEAL_VERSION", 1)
            m.setattr(schemas, "OBJECT_DISC_VERSION", 1)
            before = Config(**c).key()
        assert d.name in (before, Config(**c).key())  # a run stored under the earlier rules, or a newer one
        checked += 1
    assert checked > 0


def test_fingerprint_is_cached_by_tree_signature(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "own")
    fp = identity.fingerprint_files(root, lambda: identity._image_files(root), signature=identity.tree_signature(root))
    monkeypatch.setattr(identity, "_md5", lambda p: pytest.fail("hashed again"))
    assert identity.fingerprint_files(root, lambda: pytest.fail("listed again"),
                                      signature=identity.tree_signature(root)) == fp
