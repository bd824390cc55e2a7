"""Evidence for retention and privacy tests: real files in a real store, real rows, events through the ingest."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select

from broker.payloads import EventPhase, EvidenceRef
from dashboard.db.engine import Database
from dashboard.db.models import Event, Evidence
from dashboard.enums import Verdict
from dashboard.ingest.apply import Ingestor
from dashboard.storage.evidence import EvidenceStore, evidence_key
from tests.dashboard import factories as f


def clip_bytes(evidence_id: str, size: int = 4096) -> bytes:
    return (evidence_id.encode() * (size // len(evidence_id) + 1))[:size]


def store_evidence(db: Database, store: EvidenceStore, evidence_id: str, stored_at: datetime, *,
                   device: str = f.DEVICE, content_type: str = "video/mp4", write_file: bool = True) -> EvidenceRef:
    """A stored clip as the upload route leaves it: the file under its key and its row, ``stored_at`` as given."""
    body = clip_bytes(evidence_id)
    key = evidence_key(device, evidence_id, content_type)
    if write_file:
        handle, staged = store.staging_file()
        with handle:
            handle.write(body)
        store.commit(staged, key)
    sha = hashlib.sha256(body).hexdigest()
    with db.session() as s:
        s.add(Evidence(id=evidence_id, device_id=device, content_type=content_type, sha256=sha, size=len(body),
                       storage_key=key, stored_at=stored_at))
    kind = "clip" if content_type == "video/mp4" else "snapshot"
    return EvidenceRef(kind=kind, id=evidence_id, sha256=sha, content_type=content_type,  # type: ignore[arg-type]
                       size=len(body))


def ingest_event(db: Database, event_id: str, refs: list[EvidenceRef], *, started_at: datetime = f.T0,
                 window: str = f.WINDOW) -> None:
    """An event carrying evidence refs, through the real ingest fold (attribution included)."""
    msg = f.event(event_id, 0, EventPhase.START, started_at=started_at, window=window, evidence=refs)
    end = f.event(event_id, 1, EventPhase.END, started_at=started_at, window=window,
                  ended_at=started_at + timedelta(minutes=20), evidence=refs)
    result = Ingestor(db).apply([f.raw(msg), f.raw(end)])
    assert result.counts["accepted"] == 2, result.counts


def set_verdict(db: Database, event_id: str, verdict: Verdict | None) -> None:
    with db.session() as s:
        event = s.scalars(select(Event).where(Event.event_id == event_id)).one()
        event.verdict = verdict
