"""Evidence retention: which snapshots and clips are due, and the job that deletes them.

Policy (``retention.*`` in the dashboard settings; periods count from the upload, ``Evidence.stored_at``):

- evidence of an event whose latest review **confirmed** it: ``confirmed_days`` (default 365);
- evidence of an event **not reviewed yet**: ``unreviewed_days`` when set, else ``days``. Privacy by
  default: an unreviewed clip is not kept longer just because nobody looked at it; a hall that reviews
  slowly can give its supervisors more time (``unreviewed_days: 60``);
- everything else (dismissed events, evidence no event refers to): ``days`` (default 30).

Evidence referred to by several events is kept for the longest of their periods. ``days`` is the floor
(the settings refuse shorter ``confirmed_days`` / ``unreviewed_days``), so the job only needs to look at
the events whose class keeps evidence longer than ``days``, not at every event.

The job deletes the file first and then marks the row ``purged_at`` (in batches, each with its audit
entry in the same transaction): a crash in between leaves a row whose file is gone, which the next run
marks; never a row marked purged whose file is still there. The row itself stays: the event still shows
that it had evidence, and the clip/snapshot routes answer 410 Gone. Several dashboard replicas may run
the job at once: deleting twice is harmless and a row is marked (and counted) by one of them only.

Runs inside ``counterwatch dashboard serve`` every ``retention.interval_s`` (:class:`RetentionScheduler`)
and on demand: ``counterwatch dashboard retention [--dry-run]``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dashboard.db.audit import audit
from dashboard.db.engine import Database
from dashboard.db.models import Event, Evidence
from dashboard.enums import Verdict
from dashboard.settings import RetentionSettings
from dashboard.storage.evidence import EvidenceStore

log = logging.getLogger("counterwatch.dashboard.retention")

ACTOR = "system:retention"
AUDIT_ID_LIMIT = 2000  # ids listed per audit entry (one entry per batch, so none are left out by default)


class Standing(StrEnum):
    """What the events referring to a piece of evidence say about it (the strongest claim wins)."""

    CONFIRMED = "confirmed"
    UNREVIEWED = "unreviewed"
    OTHER = "other"  # dismissed, or no event refers to it


def standing(verdicts: Iterable[Verdict | None]) -> Standing:
    """``verdicts``: the latest verdict of every event referring to the evidence (None = not reviewed)."""
    seen = set(verdicts)
    if Verdict.CONFIRM in seen:
        return Standing.CONFIRMED
    if None in seen:
        return Standing.UNREVIEWED
    return Standing.OTHER


def keep_days(policy: RetentionSettings, of: Standing) -> int:
    if of is Standing.CONFIRMED:
        return policy.confirmed_days
    if of is Standing.UNREVIEWED:
        return policy.unreviewed_days or policy.days
    return policy.days


def due_at(policy: RetentionSettings, stored_at: datetime, verdicts: Iterable[Verdict | None]) -> datetime:
    return stored_at + timedelta(days=keep_days(policy, standing(verdicts)))


def is_due(policy: RetentionSettings, stored_at: datetime, verdicts: Iterable[Verdict | None],
           now: datetime) -> bool:
    return now >= due_at(policy, stored_at, verdicts)


def purged_ids(db: Session, ids: Iterable[str | None], device_id: str | None = None) -> set[str]:
    """Which of these evidence ids (of ``device_id``, the event's device) retention has deleted (for pages
    that show an event's evidence)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return set()
    stmt = select(Evidence.id).where(Evidence.id.in_(wanted), Evidence.purged_at.is_not(None))
    if device_id is not None:
        stmt = stmt.where(Evidence.device_id == device_id)
    return set(db.scalars(stmt))


@dataclass
class RetentionReport:
    dry_run: bool
    now: datetime
    candidates: int = 0  # not purged and older than the shortest period
    due: int = 0
    purged: int = 0
    bytes_freed: int = 0
    files_missing: int = 0  # due, its file already gone (marked purged all the same)
    failed: int = 0  # the store refused the delete: left for the next run
    kept: dict[str, int] = field(default_factory=dict)  # candidates not due yet, by standing
    due_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        out = asdict(self)
        out["now"] = self.now.isoformat()
        return out


def _longer_classes(policy: RetentionSettings) -> list[Verdict | None]:
    """Verdicts whose evidence is kept longer than ``days``: only events with those need looking at."""
    classes: list[Verdict | None] = []
    if policy.confirmed_days > policy.days:
        classes.append(Verdict.CONFIRM)
    if (policy.unreviewed_days or policy.days) > policy.days:
        classes.append(None)
    return classes


def _verdicts_of(db: Session, policy: RetentionSettings, ids: set[str]) -> dict[str, set[Verdict | None]]:
    """For each evidence id in ``ids``: the verdicts of the longer-kept events referring to it."""
    found: dict[str, set[Verdict | None]] = {}
    classes = _longer_classes(policy)
    if not classes or not ids:
        return found
    conditions = [Event.verdict == v for v in classes if v is not None]
    if None in classes:
        conditions.append(Event.verdict.is_(None))
    # Event.evidence is a JSON list of refs: read it here rather than with backend-specific JSON operators.
    rows = db.execute(select(Event.evidence, Event.verdict).where(or_(*conditions))
                      .execution_options(yield_per=2000))
    for refs, verdict in rows:
        for ref in refs or []:
            ref_id = ref.get("id") if isinstance(ref, dict) else None
            if ref_id in ids:
                found.setdefault(ref_id, set()).add(verdict)
    return found


def run_retention(db: Database, store: EvidenceStore, policy: RetentionSettings, *, now: datetime | None = None,
                  dry_run: bool = False, actor: str = ACTOR) -> RetentionReport:
    """Delete the files of due evidence and mark their rows purged (or, with ``dry_run``, only say which)."""
    now = now or datetime.now(UTC)
    report = RetentionReport(dry_run=dry_run, now=now)
    shortest = min(policy.days, policy.confirmed_days, policy.unreviewed_days or policy.days)
    with db.session() as s:
        candidates = s.execute(
            select(Evidence.id, Evidence.storage_key, Evidence.size, Evidence.stored_at)
            .where(Evidence.purged_at.is_(None), Evidence.stored_at <= now - timedelta(days=shortest))
            .order_by(Evidence.stored_at, Evidence.id)
        ).all()
        verdicts = _verdicts_of(s, policy, {c.id for c in candidates})
    report.candidates = len(candidates)
    due: list[tuple[str, str, int]] = []
    for c in candidates:
        found = verdicts.get(c.id, set())
        if is_due(policy, c.stored_at, found, now):
            due.append((c.id, c.storage_key, c.size))
        else:
            key = standing(found).value
            report.kept[key] = report.kept.get(key, 0) + 1
    report.due = len(due)
    report.due_ids = [d[0] for d in due]
    if dry_run:
        return report
    for start in range(0, len(due), policy.batch_size):
        _purge_batch(db, store, policy, due[start:start + policy.batch_size], now, actor, report)
    if report.purged or report.failed:
        log.warning("retention: purged %d evidence files (%d bytes), %d failed, %d were already gone",
                    report.purged, report.bytes_freed, report.failed, report.files_missing)
    return report


def _purge_batch(db: Database, store: EvidenceStore, policy: RetentionSettings, batch: list[tuple[str, str, int]],
                 now: datetime, actor: str, report: RetentionReport) -> None:
    deleted: list[tuple[str, str, int, bool]] = []  # (id, storage key, size, file was there)
    failures: list[str] = []
    for evidence_id, key, size in batch:
        try:
            present = store.exists(key)
            if present:
                store.delete(key)
        except OSError as exc:  # the store is down or refused: keep the row as it is, retry next run
            log.warning("retention: could not delete %s (%s): %s", evidence_id, key, exc)
            failures.append(evidence_id)
            continue
        deleted.append((evidence_id, key, size, present))
    purged: list[str] = []
    freed = missing = 0
    with db.session() as s:
        for evidence_id, key, size, present in deleted:
            # By storage key: ids are per device, the key ({device}/{id}.ext) names exactly one row.
            result = s.execute(update(Evidence).where(Evidence.storage_key == key, Evidence.purged_at.is_(None))
                               .values(purged_at=now))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another replica marked it first
            purged.append(evidence_id)
            freed += size if present else 0
            missing += 0 if present else 1
        if purged or failures:
            audit(s, actor, "purge", "evidence", None, {
                "purged": len(purged), "bytes": freed, "files_missing": missing, "failed": len(failures),
                "ids": purged[:AUDIT_ID_LIMIT], "failed_ids": failures[:AUDIT_ID_LIMIT],
                "policy": policy.model_dump(include={"days", "confirmed_days", "unreviewed_days"}),
            })
    report.purged += len(purged)
    report.bytes_freed += freed
    report.files_missing += missing
    report.failed += len(failures)


class RetentionScheduler:
    """Runs :func:`run_retention` now and then every ``interval_s`` on a daemon thread, until :meth:`stop`.
    A failing run is logged and retried at the next interval; it never stops the dashboard."""

    def __init__(self, db: Database, store: EvidenceStore, policy: RetentionSettings, *,
                 interval_s: float | None = None,
                 on_run: Callable[[RetentionReport], None] | None = None) -> None:
        self.db, self.store, self.policy = db, store, policy
        self.interval_s = interval_s if interval_s is not None else policy.interval_s
        self.on_run = on_run
        self.runs = 0
        self.failures = 0
        self.last_report: RetentionReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RetentionScheduler:
        self._thread = threading.Thread(target=self._loop, name="cw-retention", daemon=True)
        self._thread.start()
        log.info("retention job every %.0f s (keep %d days, confirmed %d days)",
                 self.interval_s, self.policy.days, self.policy.confirmed_days)
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = run_retention(self.db, self.store, self.policy)
            except Exception:
                self.failures += 1
                log.exception("retention run failed; retrying in %.0f s", self.interval_s)
            else:
                self.runs += 1
                self.last_report = report
                if self.on_run is not None:
                    self.on_run(report)
            if self._stop.wait(self.interval_s):
                return
