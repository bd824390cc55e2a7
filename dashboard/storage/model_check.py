"""Is an uploaded model file an ONNX model? A check of its protobuf structure, without onnx or torch.

An ONNX file is one serialised ``ModelProto``. Its top level is read field by field (tags, varints, lengths;
length-delimited fields are skipped by seeking, so a 500 MB model costs a few reads): every tag must be
well formed, every length must fit in the file, the last field must end exactly at the end of the file, and
the fields every model has must be there: ``ir_version`` (1, varint), ``graph`` (7) and ``opset_import``
(8). Random bytes, an HTML page or a zip fail this long before the end; it does not prove the graph runs
(the edge verifies that, with onnxruntime, before switching to it)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

IR_VERSION, GRAPH, OPSET_IMPORT = 1, 7, 8
MAX_IR_VERSION = 64
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class NotOnnx(ValueError):
    pass


def _varint(fh: BinaryIO) -> int | None:
    shift = result = 0
    while True:
        byte = fh.read(1)
        if not byte:
            return None if shift == 0 else _fail("truncated varint")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            _fail("varint longer than 10 bytes")


def _fail(reason: str) -> int:
    raise NotOnnx(reason)


def check_onnx(path: Path) -> None:
    """Raise :class:`NotOnnx` with a reason unless ``path`` is structured like an ONNX ModelProto."""
    size = path.stat().st_size
    seen: dict[int, int] = {}
    with path.open("rb") as fh:
        while True:
            tag = _varint(fh)
            if tag is None:
                break
            field, wire = tag >> 3, tag & 7
            if field == 0:
                _fail(f"field number 0 at byte {fh.tell()}")
            if wire == _VARINT:
                value = _varint(fh)
                if value is None:
                    _fail("truncated varint")
                if field == IR_VERSION and not 1 <= int(value) <= MAX_IR_VERSION:  # type: ignore[arg-type]
                    _fail(f"ir_version {value} is not an ONNX IR version")
            elif wire in (_FIXED64, _FIXED32):
                step = 8 if wire == _FIXED64 else 4
                if fh.tell() + step > size:
                    _fail("truncated fixed-width field")
                fh.seek(step, 1)
            elif wire == _LENGTH:
                length = _varint(fh)
                if length is None or fh.tell() + length > size:
                    _fail(f"field {field} is longer than the file")
                fh.seek(int(length), 1)  # type: ignore[arg-type]
            else:
                _fail(f"wire type {wire} (groups or invalid) at byte {fh.tell()}")
            if field in (IR_VERSION, GRAPH, OPSET_IMPORT) and wire != (_VARINT if field == IR_VERSION else _LENGTH):
                _fail(f"field {field} has the wrong wire type {wire}")
            seen[field] = seen.get(field, 0) + 1
    missing = [name for number, name in ((IR_VERSION, "ir_version"), (GRAPH, "graph"), (OPSET_IMPORT, "opset_import"))
               if number not in seen]
    if missing:
        _fail(f"no {', '.join(missing)}: not an ONNX model")
    if seen[GRAPH] != 1:
        _fail("more than one graph")
