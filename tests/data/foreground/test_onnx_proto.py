"""The ONNX protobuf subset: round trip of the declared fields, every other field kept as unknown bytes."""
from __future__ import annotations

from focusmim.data.foreground.onnx_proto import message_classes

LAYOUT = {"Tensor": [("dims", 1, "int64", True, None), ("name", 8, "string", False, None)],
          "Graph": [("initializer", 5, "message", True, "Tensor")],
          "Model": [("graph", 7, "message", False, "Graph")]}


def test_declared_fields_round_trip():
    Model = message_classes("test_onnx_a", LAYOUT)["Model"]
    m = Model()
    t = m.graph.initializer.add()
    t.dims.extend([16, 3, 3, 3])
    t.name = "w"
    back = Model.FromString(m.SerializeToString())
    assert list(back.graph.initializer[0].dims) == [16, 3, 3, 3] and back.graph.initializer[0].name == "w"


def test_fields_left_out_are_written_back_unchanged():
    full = message_classes("test_onnx_b", {**LAYOUT, "Model": [("graph", 7, "message", False, "Graph"),
                                                               ("ir_version", 1, "int64", False, None)]})["Model"]
    m = full(ir_version=8)
    m.graph.initializer.add().name = "w"
    subset = message_classes("test_onnx_c", LAYOUT)["Model"].FromString(m.SerializeToString())
    assert full.FromString(subset.SerializeToString()).ir_version == 8
