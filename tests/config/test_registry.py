"""Param and Registry: types, ranges, unknown keys and names, each error naming what is allowed."""
import pytest

from focusmim.config.registry import Param, Registry, check_fields


@pytest.mark.parametrize("param, good, bad", [
    (Param("int", low=1), [1, 5], [0, 1.5, True, "2", None]),
    (Param("float", low=0, high=1, low_open=True, high_open=True), [0.5, 0.01], [0, 1, "0.5", float("nan")]),
    (Param("float", low=0, none=True), [None, 0, 3], [-1, "x"]),
    (Param("bool"), [True, False], [1, "yes", None]),
    (Param("choice", choices=("a", "b")), ["a"], ["c", None, ["a"]]),
    (Param("pair", low=0, high=1), [(0.1, 1), [0, 0]], [(0.5,), (0.1, 2), "ab"]),
    (Param("ints", low=1), [(), [1, 2]], [[0], [1.5], 3]),
    (Param("str", none=True), ["x", None], [3]),
])
def test_param_accepts_and_rejects(param, good, bad):
    for v in good:
        param.check("p", v)
    for v in bad:
        with pytest.raises(ValueError, match=f"p={v!r}".replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]")):
            param.check("p", v)


def test_unknown_keys_and_names_list_the_allowed_ones():
    with pytest.raises(ValueError, match="has unknown key\\(s\\) b; allowed: a"):
        check_fields({"b": 1}, {"a": Param("int")}, "thing")
    reg = Registry("shape")
    reg.declare("square", {})
    with pytest.raises(ValueError, match="shape='circle' is not a known shape; allowed: 'square'"):
        reg.check("circle")
    with pytest.raises(ValueError, match="declared but its module is not imported"):
        reg.build("square")


def test_range_param_orders_its_pair_and_honours_open_bounds():
    from focusmim.config.registry import Param

    scale = Param("range", low=0, high=1, low_open=True)
    assert scale.ok((0.08, 1.0)) and scale.ok([0.5, 0.5])
    for bad in [(0.0, 1.0), (0.5, 0.2), (0.5, 1.5), (0.5,), "big", (0.2, float("nan")), (0.2, None)]:
        assert not scale.ok(bad), bad
    assert Param("range", low=0, low_open=True).ok((0.75, 1e6))  # no upper bound
    assert scale.allowed() == "a pair (a, b) with 0 < a <= b <= 1"
