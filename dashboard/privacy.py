"""One clerk's data, exported on request (a subject access request): JSON, or a ZIP with their evidence.

What is in it (everything the dashboard holds *about that clerk*, and only about them):

- ``profile``: the staff record;
- ``roster``: their roster entries (window and times);
- ``leave`` and ``off_post_notices``: their leave records and off-post notices;
- ``absences``: the absent intervals classified for them (approved leave, notice, unexcused);
- ``events``: the events attributed to them, each with its classification, acknowledgements and reviews
  (verdict, reason, note, time) and its evidence references (``purged`` when retention deleted the file);
- ``audit``: audit entries about their records: their staff record, roster entries, leave records,
  notices, events and evidence (who viewed their clips, and when).

Other people are not exported: other clerks' records never appear, and the people acting on the clerk's
records (supervisors, admins) appear by username only, without their IP addresses. Every export is
itself audited (``export`` on ``staff``), by the API route or the CLI that makes it."""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.db.models import (
    AbsenceClassification,
    AlertAck,
    AuditLog,
    Event,
    EventAttribution,
    Evidence,
    LeaveRecord,
    OffPostNotice,
    PresenceInterval,
    Review,
    Roster,
    Staff,
    User,
    Window,
)
from dashboard.storage.evidence import EXTENSIONS, EvidenceStore

FORMAT_VERSION = 1


class ClerkNotFound(LookupError):
    pass


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProfileOut(_Out):
    id: int
    site_id: str
    employee_no: str
    name: str
    department: str | None
    active: bool
    created_at: datetime


class RosterEntryOut(_Out):
    id: int
    window: str
    start: datetime
    end: datetime


class LeaveOut(_Out):
    id: int
    type: str
    start: datetime
    end: datetime
    status: str
    reason: str | None
    approval_level: str
    approved_at: datetime | None
    created_at: datetime


class NoticeOut(_Out):
    id: int
    window: str | None
    reason: str
    left_at: datetime
    expected_return: datetime
    actual_return: datetime | None
    created_at: datetime


class AbsenceOut(_Out):
    window: str
    start: datetime
    end: datetime | None
    classification: str
    leave_id: int | None
    notice_id: int | None


class AckOut(_Out):
    at: datetime
    by: str
    note: str | None


class ReviewOut(_Out):
    at: datetime
    by: str
    verdict: str
    reason: str | None
    note: str | None


class EvidenceRefOut(_Out):
    id: str
    kind: str | None
    content_type: str | None
    stored: bool  # the dashboard has (had) the file
    purged_at: datetime | None
    in_export: str | None = None  # the file's name inside the ZIP


class EventOut(_Out):
    event_id: str
    window: str
    rule: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    classification: str | None
    outcome: str | None  # the latest review's verdict (confirm / dismiss), None = not reviewed
    acknowledged_at: datetime | None
    acknowledgements: list[AckOut]
    reviews: list[ReviewOut]
    evidence: list[EvidenceRefOut]


class AuditOut(_Out):
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]


class ClerkExportDoc(BaseModel):
    format_version: int = FORMAT_VERSION
    generated_at: datetime
    profile: ProfileOut
    roster: list[RosterEntryOut]
    leave: list[LeaveOut]
    off_post_notices: list[NoticeOut]
    absences: list[AbsenceOut]
    events: list[EventOut]
    audit: list[AuditOut]


@dataclass
class ClerkExport:
    staff_id: int
    doc: ClerkExportDoc
    evidence_keys: dict[str, tuple[str, str]]  # evidence id -> (storage key, content type), not purged

    def json_bytes(self) -> bytes:
        return self.doc.model_dump_json(indent=2).encode()


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 6266 / RFC 5987 ``filename*``:
    an employee number is any text (工号-二), and a header can only carry Latin-1."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def find_staff(db: Session, *, staff_id: int | None = None, employee_no: str | None = None) -> Staff:
    staff = db.get(Staff, staff_id) if staff_id is not None else \
        db.scalar(select(Staff).where(Staff.employee_no == employee_no))
    if staff is None:
        raise ClerkNotFound(f"no staff member {staff_id if staff_id is not None else employee_no!r}")
    return staff


def clerk_export(db: Session, employee_no: str | None = None, *, staff_id: int | None = None) -> ClerkExport:
    staff = find_staff(db, staff_id=staff_id, employee_no=employee_no)
    sid = staff.id
    windows = {w.id: w.code for w in db.scalars(select(Window))}
    usernames = {u.id: u.username for u in db.scalars(select(User))}

    rosters = list(db.scalars(select(Roster).where(Roster.staff_id == sid).order_by(Roster.start)))
    leaves = list(db.scalars(select(LeaveRecord).where(LeaveRecord.staff_id == sid).order_by(LeaveRecord.start)))
    notices = list(db.scalars(select(OffPostNotice).where(OffPostNotice.staff_id == sid)
                              .order_by(OffPostNotice.left_at)))
    absences = db.execute(
        select(AbsenceClassification, PresenceInterval)
        .join(PresenceInterval, AbsenceClassification.interval_id == PresenceInterval.id)
        .where(AbsenceClassification.staff_id == sid).order_by(PresenceInterval.start)).all()
    attributed = db.execute(
        select(Event, EventAttribution.classification)
        .join(EventAttribution, EventAttribution.event_pk == Event.id)
        .where(EventAttribution.staff_id == sid).order_by(Event.started_at, Event.id)).all()

    event_pks = [e.id for e, _c in attributed]
    acks: dict[int, list[AckOut]] = {}
    reviews: dict[int, list[ReviewOut]] = {}
    if event_pks:
        for ack in db.scalars(select(AlertAck).where(AlertAck.event_pk.in_(event_pks)).order_by(AlertAck.at)):
            acks.setdefault(ack.event_pk, []).append(AckOut(at=ack.at, by=usernames.get(ack.user_id, "?"),
                                                            note=ack.note))
        for rv in db.scalars(select(Review).where(Review.event_pk.in_(event_pks)).order_by(Review.at, Review.id)):
            reviews.setdefault(rv.event_pk, []).append(ReviewOut(
                at=rv.at, by=usernames.get(rv.user_id, "?"), verdict=rv.verdict.value,
                reason=rv.reason.value if rv.reason else None, note=rv.note))

    ref_ids = {str(ref["id"]) for e, _c in attributed for ref in e.evidence or []
               if isinstance(ref, dict) and ref.get("id")}
    # Evidence ids are per device: an event's refs name its own device's evidence, nobody else's.
    referenced = {(e.device_id, str(ref["id"])) for e, _c in attributed for ref in e.evidence or []
                  if isinstance(ref, dict) and ref.get("id")}
    stored = {(ev.device_id, ev.id): ev for ev in db.scalars(select(Evidence).where(Evidence.id.in_(ref_ids)))
              if (ev.device_id, ev.id) in referenced} if ref_ids else {}
    events: list[EventOut] = []
    for e, classification in attributed:
        refs = []
        for ref in e.evidence or []:
            if not isinstance(ref, dict) or not ref.get("id"):
                continue
            row = stored.get((e.device_id, str(ref["id"])))
            refs.append(EvidenceRefOut(
                id=str(ref["id"]), kind=ref.get("kind"),
                content_type=row.content_type if row else ref.get("content_type"),
                stored=row is not None, purged_at=row.purged_at if row else None))
        events.append(EventOut(
            event_id=e.event_id, window=windows.get(e.window_id, "?"), rule=e.rule, severity=e.severity,
            started_at=e.started_at, ended_at=e.ended_at,
            classification=classification.value if classification else None,
            outcome=e.verdict.value if e.verdict else None, acknowledged_at=e.acknowledged_at,
            acknowledgements=acks.get(e.id, []), reviews=reviews.get(e.id, []), evidence=refs))

    about: dict[str, set[str]] = {
        "staff": {str(sid)},
        "roster": {str(r.id) for r in rosters},
        "leave": {str(x.id) for x in leaves},
        "notice": {str(n.id) for n in notices},
        "off_post_notice": {str(n.id) for n in notices},
        "event": {e.event_id for e, _c in attributed},
        "evidence": {evidence_id for _device, evidence_id in stored},
    }
    audit_rows: list[AuditLog] = []
    for entity, ids in about.items():
        if ids:
            audit_rows += db.scalars(select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id.in_(ids)))
    audit_rows.sort(key=lambda a: (a.at, a.id))

    doc = ClerkExportDoc(
        generated_at=datetime.now(UTC),
        profile=ProfileOut.model_validate(staff),
        roster=[RosterEntryOut(id=r.id, window=windows.get(r.window_id, "?"), start=r.start, end=r.end)
                for r in rosters],
        leave=[LeaveOut(id=x.id, type=x.type.value, start=x.start, end=x.end, status=x.status.value, reason=x.reason,
                        approval_level=x.approval_level.value, approved_at=x.approved_at, created_at=x.created_at)
               for x in leaves],
        off_post_notices=[NoticeOut(id=n.id, window=windows.get(n.window_id) if n.window_id else None,
                                    reason=n.reason, left_at=n.left_at, expected_return=n.expected_return,
                                    actual_return=n.actual_return, created_at=n.created_at) for n in notices],
        absences=[AbsenceOut(window=windows.get(iv.window_id, "?"), start=iv.start, end=iv.end,
                             classification=ac.classification.value, leave_id=ac.leave_id, notice_id=ac.notice_id)
                  for ac, iv in absences],
        events=events,
        # Without the IP address: that is the actor's data, not the clerk's.
        audit=[AuditOut(at=a.at, actor=a.actor, action=a.action, entity=a.entity, entity_id=a.entity_id,
                        detail=a.detail or {}) for a in audit_rows],
    )
    keys = {ev.id: (ev.storage_key, ev.content_type) for ev in stored.values() if ev.purged_at is None}
    return ClerkExport(staff_id=sid, doc=doc, evidence_keys=keys)


def write_export_zip(export: ClerkExport, store: EvidenceStore | None, out: Path | str | IO[bytes]) -> list[str]:
    """``clerk.json`` plus, with a store, ``evidence/<id>.<ext>`` for every evidence file still kept.
    Returns the evidence ids included (a file missing from the store is listed as not included)."""
    included: list[str] = []
    target: Path | IO[bytes] = Path(out) if isinstance(out, (str, Path)) else out
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if store is not None:
            by_id = {ref.id: ref for event in export.doc.events for ref in event.evidence}
            for evidence_id, (key, content_type) in sorted(export.evidence_keys.items()):
                if not store.exists(key):
                    continue
                name = f"evidence/{evidence_id}.{EXTENSIONS.get(content_type, 'bin')}"
                # Clips are already compressed: store them as they are.
                with store.open(key) as src, zf.open(zipfile.ZipInfo(name, _zip_time()), "w") as dst:
                    while chunk := src.read(1024 * 1024):
                        dst.write(chunk)
                included.append(evidence_id)
                if evidence_id in by_id:
                    by_id[evidence_id].in_export = name
        zf.writestr(zipfile.ZipInfo("clerk.json", _zip_time()), export.json_bytes(),
                    compress_type=zipfile.ZIP_DEFLATED)
    return included


def _zip_time() -> tuple[int, int, int, int, int, int]:
    now = datetime.now(UTC)
    return (now.year, now.month, now.day, now.hour, now.minute, now.second)


def zip_file(export: ClerkExport, store: EvidenceStore | None) -> tuple[IO[bytes], list[str]]:
    """The ZIP in a temporary file (in memory while small: clips can add up), rewound for reading."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - caller closes
    included = write_export_zip(export, store, spool)
    spool.seek(0)
    return spool, included
