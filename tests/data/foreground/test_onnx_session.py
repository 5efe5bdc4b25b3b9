"""Tests of focusmim.data.foreground.onnx_session: the weights found and checked, the sessions."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from focusmim.data import foreground as S

from tests.data.foreground.fgtools import SHARED_MODELS, random_images


# ------------------------------------------------------------------ weights
def test_missing_weights_raise_before_any_download(tmp_path, monkeypatch):
    import pooch

    def no_network(*a, **k):
        raise AssertionError("rembg tried to download the weights")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        S.session()
    msg = str(err.value)
    assert "U2NET_HOME" in msg and "u2netp.onnx" in msg and str(tmp_path) in msg
    with pytest.raises(FileNotFoundError, match="U2NET_HOME"):
        S.foreground_maps(random_images(2), progress=False)


def test_wrong_weights_file_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "u2netp.onnx").write_bytes(b"not a model")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="md5"):
        S.weights_path()


def test_u2net_home_defaults_to_shared_models(monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    expected = SHARED_MODELS if SHARED_MODELS.is_dir() else Path("~/.u2net").expanduser()
    try:
        S.weights_path()
    except FileNotFoundError:
        pass
    assert Path(os.environ["U2NET_HOME"]) == expected


def test_session_rejects_bad_workers():
    with pytest.raises(ValueError, match="workers"):
        S.session(workers=-2)


@pytest.mark.shared
def test_batched_graph_frees_only_the_batch_dimension(u2netp):
    import onnxruntime as ort

    s = ort.InferenceSession(S.batched_model(str(S.weights_path())), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].shape == ["batch", 3, 320, 320]
    assert s.get_outputs()[0].shape == ["batch", 1, 320, 320]  # the fused map, the one rembg uses
