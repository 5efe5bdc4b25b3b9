"""focusmim.models.common: the helpers the model modules share."""
import pytest

from focusmim.models.common import size_pair


def test_size_pair_accepts_a_side_or_a_pair():
    assert size_pair(96) == (96, 96)
    assert size_pair((32, 64), 8) == (32, 64)
    assert size_pair([16, 24], 8) == (16, 24)


@pytest.mark.parametrize("bad", [0, -8, 12.0, True, (32,), (32, 30), "32", None])
def test_size_pair_names_the_parameter(bad):
    with pytest.raises(ValueError, match=r"image_size=.*allowed"):
        size_pair(bad, 8)
