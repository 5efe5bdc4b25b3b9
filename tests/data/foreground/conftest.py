"""Fixtures of the foreground tests: rembg's real u2netp session, where its weights are found."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from focusmim.data import foreground as S
from tests.conftest import need_external
from tests.data.foreground.fgtools import SHARED_MODELS


@pytest.fixture(scope="module")
def u2netp():
    home = [Path(os.environ["U2NET_HOME"])] if os.environ.get("U2NET_HOME") else []
    found = next((h for h in home + [SHARED_MODELS] if (h / "u2netp.onnx").is_file()), None)
    need_external(found, "rembg's u2netp.onnx weights",
                  f"set U2NET_HOME to its folder (md5 {S.WEIGHTS_MD5}), or put it in ../shared/models")
    old = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(found)
    try:
        yield S.session()
    finally:
        if old is None:
            os.environ.pop("U2NET_HOME", None)
        else:
            os.environ["U2NET_HOME"] = old
