"""Red-team finding 12 (models): the model upload accepted any bytes, which devices were then told to fetch
and run. An upload must be shaped like an ONNX ModelProto (checked without onnx at runtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi import FastAPI

from dashboard.enums import Role
from dashboard.storage.model_check import NotOnnx, check_onnx
from tests.dashboard.helpers import ApiUsers
from tests.edge.onnx_fixtures import constant_detector, prediction

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.db
SHIPPED = sorted((ROOT / "models").glob("*.onnx"))


def _tiny_model(tmp_path: Path) -> bytes:
    names = {0: "staff"}
    path = constant_detector(tmp_path / "tiny.onnx", names, prediction(names, []))
    return path.read_bytes()


NOT_MODELS = [
    b"<html><script>alert(1)</script></html>",
    b"PK\x03\x04" + b"\x00" * 200,  # a zip (e.g. a .pt checkpoint)
    b"\x08\x07",  # ir_version only
    bytes(range(256)) * 64,
]


@pytest.mark.parametrize("body", NOT_MODELS)
def test_upload_that_is_not_onnx_is_refused(app: FastAPI, body: bytes) -> None:
    admin = ApiUsers(app).client(Role.ADMIN)
    r = admin.put("/api/v1/models/evil-1/file", content=body)
    assert r.status_code == 422 and "ONNX" in r.text
    assert admin.get("/api/v1/models").json() == []


def test_truncated_model_is_refused_and_a_real_one_accepted(app: FastAPI, tmp_path: Path) -> None:
    admin = ApiUsers(app).client(Role.ADMIN)
    good = _tiny_model(tmp_path)
    assert admin.put("/api/v1/models/cut-1/file", content=good[:-7]).status_code == 422
    r = admin.put("/api/v1/models/det-ok/file", content=good,
                  headers={"X-Content-SHA256": hashlib.sha256(good).hexdigest()})
    assert r.status_code == 201, r.text
    assert [m["version"] for m in admin.get("/api/v1/models").json()] == ["det-ok"]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_models_pass_the_check(path: Path) -> None:
    check_onnx(path)


def test_check_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07\x3a\x00")  # ir_version 7, an empty graph, no opset_import
    with pytest.raises(NotOnnx, match="opset_import"):
        check_onnx(path)
    path.write_bytes(b"\x08\xc8\x01")  # ir_version 200
    with pytest.raises(NotOnnx, match="ir_version"):
        check_onnx(path)
