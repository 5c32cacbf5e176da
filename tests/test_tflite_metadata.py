"""The TFLite metadata flatbuffer pocketgan writes by hand (see pocketgan/export/tflite_metadata.py):
its reader agrees with the official writer, and what it writes reads back. The fixture
tests/data/tflite_metadata_official_writer.bin was written once by the metadata schema's generated
code (the FlatBuffers compiler's output for metadata_schema.fbs) from the .json beside it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("flatbuffers")

from pocketgan.export.tflite_metadata import (  # noqa: E402
    METADATA_IDENTIFIER,
    TEXT_FIELDS,
    metadata_buffer,
    parse_metadata_buffer,
)

DATA = Path(__file__).parent / "data"


def expected(info: dict) -> dict:
    tensor = lambda t: {"name": t["name"], "description": t["description"], "content": "image",  # noqa: E731
                        "color_space": "RGB", "min": [0.0], "max": [255.0]}
    return {**{f: info.get(f) for f in TEXT_FIELDS}, "min_parser_version": "1.0.0",
            "inputs": [tensor(info["input"])], "outputs": [tensor(info["output"])]}


def test_reader_agrees_with_the_official_writer():
    info = json.loads((DATA / "tflite_metadata_official_writer.json").read_text())
    raw = (DATA / "tflite_metadata_official_writer.bin").read_bytes()
    assert parse_metadata_buffer(raw) == expected(info)


def test_written_metadata_reads_back_and_says_what_the_official_one_says():
    info = json.loads((DATA / "tflite_metadata_official_writer.json").read_text())
    raw = metadata_buffer(info)
    assert raw[4:8] == METADATA_IDENTIFIER
    official = parse_metadata_buffer((DATA / "tflite_metadata_official_writer.bin").read_bytes())
    assert parse_metadata_buffer(raw) == official
    # optional text fields left out are absent, not empty strings; unicode survives
    other = {"name": "été → hiver", "input": {"name": "image", "description": "in"},
             "output": {"name": "translated", "description": "out"}}
    assert parse_metadata_buffer(metadata_buffer(other)) == expected(other)


def test_not_metadata_is_refused_in_one_line():
    with pytest.raises(ValueError, match="not a metadata flatbuffer"):
        parse_metadata_buffer(b"\x00" * 16)
    with pytest.raises(ValueError, match="not a metadata flatbuffer"):
        parse_metadata_buffer(b"")
