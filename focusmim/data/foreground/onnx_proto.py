"""Protobuf message classes for a few fields of ONNX files, without the ``onnx`` package.

:func:`message_classes` builds classes from a layout ``{message: [(field, number, type, repeated, message type)]}``
with the field numbers of onnx.proto; every field left out is kept as unknown bytes (and written back unchanged).
:mod:`focusmim.data.foreground.maps` reads and rewrites input shapes with it, :mod:`focusmim.data.foreground.u2netp` the weights.

Example:
    >>> Model = message_classes("demo_onnx", {"Graph": [("name", 2, "string", False, None)],
    ...                                       "Model": [("graph", 7, "message", False, "Graph")]})["Model"]
    >>> m = Model(); m.graph.name = "g"; Model.FromString(m.SerializeToString()).graph.name
    'g'
"""
from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["message_classes"]

_TYPES = {"int32": "TYPE_INT32", "int64": "TYPE_INT64", "float": "TYPE_FLOAT", "string": "TYPE_STRING",
          "bytes": "TYPE_BYTES", "message": "TYPE_MESSAGE"}


def message_classes(package: str, layout: Mapping[str, Sequence[tuple]]) -> dict[str, type]:
    """Message classes of ``layout`` in their own protobuf ``package`` (a unique name per layout)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    for name, fields in layout.items():
        m = fd.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            f = m.field.add(name=field_name, number=number, type=getattr(F, _TYPES[kind]),
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = f".{package}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{n}")) for n in layout}
