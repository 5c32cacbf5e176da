"""TFLite model metadata for an exported generator: what Android Studio's ML Model Binding (and
the TFLite Support / LiteRT task libraries) read to describe a .tflite and generate its wrapper
class: name, description, version, author, licence, and each tensor's name, description, content
(an RGB image, so the wrapper takes and returns an image rather than a raw buffer) and value range.

The metadata is a flatbuffer of the official metadata schema (metadata_schema.fbs, identifier
``M001``), stored the way the schema's MetadataPopulator stores it: in a buffer of the model named by
a ``Metadata`` entry ``TFLITE_METADATA``. The model is read and rewritten with LiteRT's own
``ai_edge_litert.tools.flatbuffer_utils``; nothing else of it changes. :func:`read_metadata` reads it
back (tests, and `pocketgan export` before it writes the card).

Why written by hand: the libraries that write this metadata cannot be installed beside litert-torch
(tflite-support, last released 2023, pins protobuf 3.20, which ai-edge-litert's protobuf-7 modules
cannot load; mediapipe's writer imports a native module its wheel no longer ships). The few tables an
image-in, image-out model needs are built here with the ``flatbuffers`` runtime (a dependency of
ai-edge-litert), by field slot as the schema numbers them; ``tests/data/tflite_metadata_official_writer.bin``
(written once by the schema's generated code) checks that the reader agrees with the official writer.
"""
from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np
from flatbuffers import number_types
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"  # the Metadata entry readers look for
METADATA_IDENTIFIER = b"M001"      # the schema's file_identifier
# The lowest metadata parser version that understands every field written here (all date from 1.0.0):
# ML Model Binding refuses metadata whose min_parser_version is newer than its parser.
MIN_PARSER_VERSION = "1.0.0"
TEXT_FIELDS = ("name", "description", "version", "author", "license")

# Field slots of the schema's tables (metadata_schema.fbs, in declaration order; a union takes two:
# its type, then its value). Only the fields written or read here.
MODEL = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4, "license": 5,
         "min_parser_version": 7}
MODEL_FIELDS = 8
SUBGRAPH = {"input_tensor_metadata": 2, "output_tensor_metadata": 3}
SUBGRAPH_FIELDS = 10
TENSOR = {"name": 0, "description": 1, "content": 3, "stats": 5}
TENSOR_FIELDS = 7
CONTENT = {"properties_type": 0, "properties": 1}
CONTENT_FIELDS = 3
IMAGE_PROPERTIES = {"color_space": 0}
IMAGE_PROPERTIES_FIELDS = 2
STATS = {"max": 0, "min": 1}
STATS_FIELDS = 2
CONTENT_IMAGE = 2          # ContentProperties union: ImageProperties
COLOR_SPACES = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}
RGB = 1


def _offsets_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _floats_vector(builder: flatbuffers.Builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for v in reversed(values):
        builder.PrependFloat32(v)
    return builder.EndVector()


def _table(builder: flatbuffers.Builder, n_fields: int, offsets: dict[int, int],
           bytes_: dict[int, int] | None = None) -> int:
    """A table with the given fields: ``offsets`` (slot -> offset of a string/vector/table) and
    ``bytes_`` (slot -> one-byte scalar). Everything referenced must be built before (flatbuffers
    are written back to front)."""
    builder.StartObject(n_fields)
    for slot, off in offsets.items():
        builder.PrependUOffsetTRelativeSlot(slot, off, 0)
    for slot, value in (bytes_ or {}).items():
        builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _image_tensor(builder: flatbuffers.Builder, name: str, description: str) -> int:
    """An RGB uint8 image tensor in [0, 255] (no normalization: the graph does its own)."""
    name_off, desc_off = builder.CreateString(name), builder.CreateString(description)
    props = _table(builder, IMAGE_PROPERTIES_FIELDS, {}, {IMAGE_PROPERTIES["color_space"]: RGB})
    content = _table(builder, CONTENT_FIELDS, {CONTENT["properties"]: props},
                     {CONTENT["properties_type"]: CONTENT_IMAGE})
    max_off, min_off = _floats_vector(builder, [255.0]), _floats_vector(builder, [0.0])
    stats = _table(builder, STATS_FIELDS, {STATS["max"]: max_off, STATS["min"]: min_off})
    return _table(builder, TENSOR_FIELDS, {TENSOR["name"]: name_off, TENSOR["description"]: desc_off,
                                           TENSOR["content"]: content, TENSOR["stats"]: stats})


def metadata_buffer(info: dict) -> bytes:
    """The metadata flatbuffer for one image-in, image-out subgraph. ``info``: ``name``,
    ``description``, ``version``, ``author``, ``license`` (strings or None) and ``input`` / ``output``
    as ``{"name": ..., "description": ...}``."""
    builder = flatbuffers.Builder(1024)
    inp = _image_tensor(builder, info["input"]["name"], info["input"]["description"])
    out = _image_tensor(builder, info["output"]["name"], info["output"]["description"])
    subgraph = _table(builder, SUBGRAPH_FIELDS, {SUBGRAPH["input_tensor_metadata"]: _offsets_vector(builder, [inp]),
                                                 SUBGRAPH["output_tensor_metadata"]: _offsets_vector(builder, [out])})
    fields = {MODEL[f]: builder.CreateString(str(info[f])) for f in TEXT_FIELDS if info.get(f) is not None}
    fields[MODEL["min_parser_version"]] = builder.CreateString(MIN_PARSER_VERSION)
    fields[MODEL["subgraph_metadata"]] = _offsets_vector(builder, [subgraph])
    builder.Finish(_table(builder, MODEL_FIELDS, fields), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def add_metadata(model: bytes, info: dict) -> bytes:
    """``model`` (a .tflite flatbuffer) with the metadata of ``info`` (see :func:`metadata_buffer`),
    replacing any it had."""
    from ai_edge_litert import schema_py_generated as tfl
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    if len(tree.subgraphs) != 1 or len(tree.subgraphs[0].inputs) != 1 or len(tree.subgraphs[0].outputs) != 1:
        raise ValueError("metadata is written for one subgraph with one input and one output")
    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata_buffer(info), dtype=np.uint8)
    for old in tree.metadata or []:
        if _name(old.name) == METADATA_NAME:  # replaced: its bytes would only weigh the file down
            tree.buffers[old.buffer].data = None
    tree.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tree.buffers) - 1
    tree.metadata = [m for m in (tree.metadata or []) if _name(m.name) != METADATA_NAME] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Reader:
    """Field access on one table of a flatbuffer, by schema slot."""

    def __init__(self, buf: bytes | bytearray, pos: int) -> None:
        self.tab = Table(buf, pos)

    def _offset(self, slot: int) -> int:
        return self.tab.Offset(4 + 2 * slot)

    def text(self, slot: int) -> str | None:
        o = self._offset(slot)
        return self.tab.String(o + self.tab.Pos).decode() if o else None

    def byte(self, slot: int) -> int:
        o = self._offset(slot)
        return self.tab.Get(number_types.Uint8Flags, o + self.tab.Pos) if o else 0

    def table(self, slot: int) -> _Reader | None:
        o = self._offset(slot)
        return _Reader(self.tab.Bytes, self.tab.Indirect(o + self.tab.Pos)) if o else None

    def union(self, slot: int) -> _Reader | None:
        o = self._offset(slot)
        if not o:
            return None
        t = Table(bytearray(), 0)
        self.tab.Union(t, o)
        return _Reader(t.Bytes, t.Pos)

    def tables(self, slot: int) -> list[_Reader]:
        o = self._offset(slot)
        if not o:
            return []
        start = self.tab.Vector(o)
        return [_Reader(self.tab.Bytes, self.tab.Indirect(start + 4 * i)) for i in range(self.tab.VectorLen(o))]

    def floats(self, slot: int) -> list[float] | None:
        o = self._offset(slot)
        return self.tab.GetVectorAsNumpy(number_types.Float32Flags, o).tolist() if o else None


def _tensor(t: _Reader) -> dict:
    content = t.table(TENSOR["content"])
    kind = content.byte(CONTENT["properties_type"]) if content is not None else None
    image = kind == CONTENT_IMAGE
    color = None
    if image:
        assert content is not None  # kind came from it
        props = content.union(CONTENT["properties"])
        color = COLOR_SPACES.get(props.byte(IMAGE_PROPERTIES["color_space"]) if props else 0, "UNKNOWN")
    stats = t.table(TENSOR["stats"])
    return {"name": t.text(TENSOR["name"]), "description": t.text(TENSOR["description"]),
            "content": "image" if image else kind, "color_space": color,
            "min": stats.floats(STATS["min"]) or None if stats is not None else None,
            "max": stats.floats(STATS["max"]) or None if stats is not None else None}


def parse_metadata_buffer(raw: bytes) -> dict:
    """The fields :func:`metadata_buffer` writes (plus ``min_parser_version``) of a metadata flatbuffer."""
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        raise ValueError(f"{METADATA_NAME} is not a metadata flatbuffer (identifier {raw[4:8]!r})")
    buf = bytearray(raw)
    meta = _Reader(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    out: dict[str, Any] = {field: meta.text(MODEL[field]) for field in TEXT_FIELDS}
    out["min_parser_version"] = meta.text(MODEL["min_parser_version"])
    subgraphs = meta.tables(MODEL["subgraph_metadata"])
    sub = subgraphs[0] if subgraphs else None
    out["inputs"] = [_tensor(t) for t in sub.tables(SUBGRAPH["input_tensor_metadata"])] if sub else []
    out["outputs"] = [_tensor(t) for t in sub.tables(SUBGRAPH["output_tensor_metadata"])] if sub else []
    return out


def read_metadata(model: bytes) -> dict | None:
    """The metadata of a .tflite as a dict (see :func:`parse_metadata_buffer`), or None when it has none."""
    from ai_edge_litert import schema_py_generated as tfl

    buf = bytearray(model)
    tree = tfl.Model.GetRootAs(buf, 0)
    for i in range(tree.MetadataLength()):
        entry = tree.Metadata(i)
        if _name(entry.Name()) != METADATA_NAME:
            continue
        data = tree.Buffers(entry.Buffer())
        if data.Offset() > 1:  # stored after the flatbuffer (large models)  # noqa: SIM108
            raw = bytes(buf[data.Offset():data.Offset() + data.Size()])
        else:
            raw = data.DataAsNumpy().tobytes()
        return parse_metadata_buffer(raw)
    return None
