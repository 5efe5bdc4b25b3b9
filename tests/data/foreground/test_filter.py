"""Tests for focusmim.data.foreground.filter: the paper's filter rule and its area scaling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from focusmim.data import foreground as S

from tests.data.foreground.fgtools import maps_with_counts


def test_keep_mask_boundary_at_96px():
    fg = maps_with_counts([100, 101, 0, 9216])
    assert keep_list(fg) == [False, True, False, True]
    # explicit min_pixels=100 is the same rule
    assert S.keep_mask(fg, min_pixels=100).tolist() == [False, True, False, True]


def keep_list(fg, **kw):
    return S.keep_mask(fg, **kw).tolist()


def test_uint8_threshold_rounding():
    # 0.8 on the 0..1 scale: 204/255 = 0.8 counts, 203/255 = 0.796 does not
    assert keep_list(maps_with_counts([101], value=204)) == [True]
    assert keep_list(maps_with_counts([101], value=203)) == [False]
    assert keep_list(maps_with_counts([101], value=255)) == [True]
    assert S.filter_report(maps_with_counts([1]))["uint8_level"] == 204
    # float maps are compared on the 0..1 scale directly
    f = maps_with_counts([101, 101], value=1).float()
    f[0] *= 0.8
    f[1] *= 0.7999
    assert keep_list(f) == [True, False]
    # other thresholds: 0.5 -> 128 (127.5 rounds up), 1.0 -> 255
    assert keep_list(maps_with_counts([101], value=128), threshold=0.5) == [True]
    assert keep_list(maps_with_counts([101], value=127), threshold=0.5) == [False]
    assert keep_list(maps_with_counts([101], value=254), threshold=1.0) == [False]


def test_min_pixels_scales_with_area():
    assert S.min_pixels_for(96, 96) == 100.0
    assert S.min_pixels_for(32, 32) == pytest.approx(100 * 1024 / 9216)
    assert S.min_pixels_for(192, 192) == 400.0
    # 32x32: the floor is 11.1 pixels, so 11 are dropped and 12 kept
    assert keep_list(maps_with_counts([11, 12], size=32)) == [False, True]
    # 192x192: 400 dropped, 401 kept
    assert keep_list(maps_with_counts([400, 401], size=192)) == [False, True]
    # an explicit number is not scaled
    assert keep_list(maps_with_counts([5, 6], size=32), min_pixels=5) == [False, True]


def test_filter_report_counts():
    fg = maps_with_counts([0, 50, 100, 101, 500])
    r = S.filter_report(fg)
    assert (r["n"], r["kept"], r["dropped"]) == (5, 2, 3)
    assert r["fraction_dropped"] == pytest.approx(0.6)
    assert r["min_pixels"] == 100.0 and r["threshold"] == 0.8


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(threshold=0.0), "threshold"),
        (dict(threshold=1.5), "threshold"),
        (dict(threshold="high"), "threshold"),
        (dict(min_pixels=-1), "min_pixels"),
        (dict(min_pixels="100"), "min_pixels"),
    ],
)
def test_keep_mask_rejects_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        S.keep_mask(maps_with_counts([1]), **kw)


def test_keep_mask_rejects_bad_maps():
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(torch.zeros(2, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(np.zeros((2, 1, 8, 8), dtype=np.uint8))
