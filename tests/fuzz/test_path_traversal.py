"""Path traversal in evidence ids and storage keys is refused, and nothing lands outside the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard.settings import DashboardSettings
from dashboard.storage.evidence import LocalEvidenceStore, UnsafeKey, check_key, evidence_key
from tests.dashboard.helpers import register

pytestmark = pytest.mark.db

BAD_IDS = ["../x", "%2e%2e%2fx", "..%2fx", "/etc/passwd", "%2Fetc%2Fpasswd", "a%00b",
           "x\\..\\y", "..\\x", "a b", "é"]
BAD_KEYS = ["../x.jpg", "a/../../x.jpg", "/abs.jpg", "a//b.jpg", "a/./b.jpg", "a\x00b.jpg", "", "a/", "..",
            "a/..", "x\\y.jpg", "a\n.jpg"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_store_refuses_unsafe_keys(tmp_path: Path, key: str) -> None:
    store = LocalEvidenceStore(tmp_path / "store")
    with pytest.raises(UnsafeKey):
        check_key(key)
    for call in (store.exists, store.size, store.open, store.delete):
        with pytest.raises(UnsafeKey):
            call(key)


@pytest.mark.parametrize("bad", ["../x", "x\x00", "/abs", "../../etc/passwd"])
def test_evidence_key_refuses_unsafe_ids(bad: str) -> None:
    with pytest.raises((UnsafeKey, ValueError)):
        evidence_key("edge-a", bad, "image/jpeg")
    with pytest.raises((UnsafeKey, ValueError)):
        evidence_key(bad, "snap0001", "image/jpeg")


def test_upload_with_traversing_ids_is_refused_and_stores_nothing(app: FastAPI, settings: DashboardSettings,
                                                                  tmp_path: Path) -> None:
    token = register(app.state.ctx.db)
    body = b"\xff\xd8\xff" + b"x" * 100
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg",
               "X-Content-SHA256": hashlib.sha256(body).hexdigest()}
    before = {p for p in tmp_path.rglob("*")}
    with TestClient(app) as client:
        for bad in BAD_IDS:
            r = client.put(f"/api/v1/evidence/{bad}", content=body, headers=headers)
            assert r.status_code in (404, 405, 422), (bad, r.status_code, r.text)
            assert r.status_code != 500
        ok = client.put("/api/v1/evidence/snap0001", content=body, headers=headers)
        assert ok.status_code == 201, ok.text
    created = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    evidence_root = Path(settings.evidence_dir).resolve()
    stored = [p for p in created if p.suffix == ".jpg"]
    assert [p.name for p in stored] == ["snap0001.jpg"]
    assert all(evidence_root in p.resolve().parents for p in stored)
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


def test_dot_only_evidence_ids_are_refused(app: FastAPI) -> None:
    """``..`` / ``%2e%2e`` pass the topic alphabet (dots are allowed) and are stored as ``{device}/...jpg``:
    inside the store, but an id that reads as a path component should be refused outright (422)."""
    token = register(app.state.ctx.db)
    body = b"\xff\xd8\xff" + b"y" * 10
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg",
               "X-Content-SHA256": hashlib.sha256(body).hexdigest()}
    with TestClient(app) as client:
        for bad in ("..", "%2e%2e", "."):
            r = client.put(f"/api/v1/evidence/{bad}", content=body, headers=headers)
            assert r.status_code in (404, 405, 422), (bad, r.status_code, r.text)
