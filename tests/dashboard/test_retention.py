"""Evidence retention: the policy, the job against a real database and real files, the 410 after a purge,
the schedule inside the dashboard, and that every view of a clip is in the audit log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import select

from counterwatch.cli import main
from dashboard.db.engine import Database
from dashboard.db.models import AuditLog, Event, Evidence
from dashboard.enums import Role, Verdict
from dashboard.retention import (
    RetentionReport,
    RetentionScheduler,
    Standing,
    is_due,
    keep_days,
    run_retention,
    standing,
)
from dashboard.settings import DashboardSettings, RetentionSettings
from dashboard.storage.evidence import LocalEvidenceStore, StoreUnavailable
from tests.dashboard.evidence_support import clip_bytes, ingest_event, set_verdict, store_evidence
from tests.dashboard.helpers import ApiUsers, register

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = RetentionSettings()
SLOW_REVIEW = RetentionSettings(days=30, unreviewed_days=60, confirmed_days=365)
C, D, N = Verdict.CONFIRM, Verdict.DISMISS, None


# -- the policy ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("verdicts", "expected"), [
    ([], Standing.OTHER),  # no event refers to it
    ([D], Standing.OTHER),
    ([N], Standing.UNREVIEWED),
    ([C], Standing.CONFIRMED),
    ([D, N], Standing.UNREVIEWED),  # one of its events still waits for review
    ([D, C], Standing.CONFIRMED),  # shared by a dismissed and a confirmed event: the confirmation counts
    ([N, C, D], Standing.CONFIRMED),
])
def test_standing_is_the_strongest_claim(verdicts: list[Verdict | None], expected: Standing) -> None:
    assert standing(verdicts) is expected


@pytest.mark.parametrize(("policy", "of", "days"), [
    (DEFAULT, Standing.OTHER, 30),
    (DEFAULT, Standing.UNREVIEWED, 30),  # privacy by default: not kept longer for want of a review
    (DEFAULT, Standing.CONFIRMED, 365),
    (SLOW_REVIEW, Standing.UNREVIEWED, 60),
    (SLOW_REVIEW, Standing.OTHER, 30),
    (RetentionSettings(days=7, confirmed_days=7), Standing.CONFIRMED, 7),
])
def test_keep_days(policy: RetentionSettings, of: Standing, days: int) -> None:
    assert keep_days(policy, of) == days


@pytest.mark.parametrize(("policy", "age", "verdicts", "due"), [
    (DEFAULT, timedelta(days=30) - timedelta(seconds=1), [], False),
    (DEFAULT, timedelta(days=30), [], True),  # due the moment the period is over
    (DEFAULT, timedelta(days=31), [D], True),
    (DEFAULT, timedelta(days=31), [N], True),
    (DEFAULT, timedelta(days=364), [C], False),
    (DEFAULT, timedelta(days=365), [C], True),
    (DEFAULT, timedelta(days=200), [D, C], False),
    (SLOW_REVIEW, timedelta(days=45), [N], False),
    (SLOW_REVIEW, timedelta(days=45), [D], True),
    (SLOW_REVIEW, timedelta(days=61), [N, D], True),
])
def test_is_due(policy: RetentionSettings, age: timedelta, verdicts: list[Verdict | None], due: bool) -> None:
    assert is_due(policy, NOW - age, verdicts, NOW) is due


@pytest.mark.parametrize("bad", [{"confirmed_days": 10}, {"unreviewed_days": 29}, {"days": 0}, {"interval_s": 0}])
def test_settings_refuse_a_policy_that_keeps_confirmed_or_unreviewed_shorter(bad: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        RetentionSettings(**bad)
    with pytest.raises(ValidationError):  # and from the dashboard's own settings (YAML / CW_DASHBOARD_RETENTION__*)
        DashboardSettings(retention=bad)  # type: ignore[arg-type]


# -- the job ------------------------------------------------------------------------------------------
def _files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts}


def _purged(db: Database) -> dict[str, datetime | None]:
    with db.session() as s:
        return {e.id: e.purged_at for e in s.scalars(select(Evidence))}


def _purge_audits(db: Database) -> list[AuditLog]:
    with db.session() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == "purge").order_by(AuditLog.id)))
        s.expunge_all()
        return rows


@pytest.fixture
def scene(db: Database, tmp_path: Path) -> tuple[Database, LocalEvidenceStore]:
    """Evidence of every standing and age, with real files, linked to events through the ingest."""
    register(db)
    store = LocalEvidenceStore(tmp_path / "evidence")
    age = lambda days: NOW - timedelta(days=days)  # noqa: E731
    unreviewed = store_evidence(db, store, "clip-unreviewed", age(31))
    dismissed = store_evidence(db, store, "clip-dismissed", age(31))
    confirmed = store_evidence(db, store, "clip-confirmed", age(31))
    confirmed_snap = store_evidence(db, store, "snap-confirmed", age(31), content_type="image/jpeg")
    ancient = store_evidence(db, store, "clip-ancient", age(366))
    store_evidence(db, store, "clip-recent", age(5))
    store_evidence(db, store, "clip-orphan", age(40))  # no event refers to it
    shared = store_evidence(db, store, "clip-shared", age(100))
    store_evidence(db, store, "clip-nofile", age(40), write_file=False)  # file already gone
    ingest_event(db, "evt-unreviewed", [unreviewed])
    ingest_event(db, "evt-dismissed", [dismissed, shared], started_at=NOW - timedelta(days=100))
    ingest_event(db, "evt-confirmed", [confirmed, confirmed_snap, shared])
    ingest_event(db, "evt-ancient", [ancient], started_at=NOW - timedelta(days=366))
    set_verdict(db, "evt-dismissed", Verdict.DISMISS)
    set_verdict(db, "evt-confirmed", Verdict.CONFIRM)
    set_verdict(db, "evt-ancient", Verdict.CONFIRM)
    return db, store


@pytest.mark.db
def test_dry_run_lists_what_is_due_and_changes_nothing(scene: tuple[Database, LocalEvidenceStore]) -> None:
    db, store = scene
    before = _files(store.root)
    report = run_retention(db, store, DEFAULT, now=NOW, dry_run=True)
    assert sorted(report.due_ids) == sorted(["clip-ancient", "clip-nofile", "clip-orphan", "clip-dismissed",
                                             "clip-unreviewed"])
    assert report.candidates == 8 and report.kept == {"confirmed": 3}  # clip-recent is not even a candidate
    assert report.purged == 0 and _files(store.root) == before
    assert all(v is None for v in _purged(db).values()) and _purge_audits(db) == []


@pytest.mark.db
def test_job_deletes_due_files_marks_rows_and_audits_with_counts(scene: tuple[Database, LocalEvidenceStore]) -> None:
    db, store = scene
    report = run_retention(db, store, DEFAULT, now=NOW)
    gone = {"clip-ancient", "clip-nofile", "clip-orphan", "clip-dismissed", "clip-unreviewed"}
    assert report.purged == 5 and report.files_missing == 1 and report.failed == 0
    assert report.bytes_freed == 4 * len(clip_bytes("x"))
    assert _files(store.root) == {"clip-confirmed.mp4", "snap-confirmed.jpg", "clip-recent.mp4", "clip-shared.mp4"}
    purged = _purged(db)
    assert {k for k, v in purged.items() if v is not None} == gone
    assert all(purged[k] == NOW for k in gone)
    (entry,) = _purge_audits(db)
    assert entry.actor == "system:retention" and entry.entity == "evidence"
    assert entry.detail["purged"] == 5 and entry.detail["files_missing"] == 1 and entry.detail["failed"] == 0
    assert set(entry.detail["ids"]) == gone
    assert entry.detail["policy"] == {"days": 30, "confirmed_days": 365, "unreviewed_days": None}

    # Again: nothing is due twice and no empty audit entry is written.
    again = run_retention(db, store, DEFAULT, now=NOW + timedelta(hours=1))
    assert again.purged == 0 and again.due == 0 and len(_purge_audits(db)) == 1
    # A year on, the confirmed ones go too.
    later = run_retention(db, store, DEFAULT, now=NOW + timedelta(days=365))
    assert later.purged == 4 and _files(store.root) == set()


@pytest.mark.db
def test_a_longer_period_for_unreviewed_evidence_keeps_it(scene: tuple[Database, LocalEvidenceStore]) -> None:
    db, store = scene
    report = run_retention(db, store, SLOW_REVIEW, now=NOW)
    assert "clip-unreviewed" not in report.due_ids and report.kept["unreviewed"] == 1
    assert (store.root / "edge-a" / "clip-unreviewed.mp4").is_file()
    set_verdict(db, "evt-unreviewed", Verdict.DISMISS)  # reviewed and dismissed: the default period applies
    assert run_retention(db, store, SLOW_REVIEW, now=NOW).due_ids == ["clip-unreviewed"]


class RefusingStore(LocalEvidenceStore):
    """The real local store, except that the backing store refuses to delete one key (an S3 outage, a
    read-only volume): what the job does then is the point, not how the store fails."""

    def __init__(self, root: Path, refused: str) -> None:
        super().__init__(root)
        self.refused = refused

    def delete(self, key: str) -> None:
        if key.endswith(self.refused):
            raise StoreUnavailable("delete", ConnectionError("store unreachable"))
        super().delete(key)


@pytest.mark.db
def test_a_file_the_store_cannot_delete_stays_unmarked_for_the_next_run(
        scene: tuple[Database, LocalEvidenceStore]) -> None:
    db, store = scene
    refusing = RefusingStore(store.root, "clip-orphan.mp4")
    report = run_retention(db, refusing, DEFAULT, now=NOW)
    assert report.failed == 1 and report.purged == 4
    assert _purged(db)["clip-orphan"] is None and (store.root / "edge-a" / "clip-orphan.mp4").is_file()
    assert _purge_audits(db)[0].detail["failed_ids"] == ["clip-orphan"]
    assert run_retention(db, store, DEFAULT, now=NOW).purged == 1  # the store is back
    assert _purged(db)["clip-orphan"] == NOW


@pytest.mark.db
def test_batches_each_commit_with_their_audit_entry(scene: tuple[Database, LocalEvidenceStore]) -> None:
    db, store = scene
    report = run_retention(db, store, RetentionSettings(batch_size=2), now=NOW)
    audits = _purge_audits(db)
    assert report.purged == 5 and [a.detail["purged"] for a in audits] == [2, 2, 1]


# -- the routes after a purge, and the audit of every view ------------------------------------------------
@pytest.mark.db
def test_purged_evidence_is_410_gone_with_a_clear_message(app: FastAPI, api: ApiUsers) -> None:
    db: Database = app.state.ctx.db
    store = app.state.ctx.evidence
    register(db)
    store_evidence(db, store, "clip-old", datetime.now(UTC) - timedelta(days=45))
    store_evidence(db, store, "snap-old", datetime.now(UTC) - timedelta(days=45), content_type="image/jpeg")
    sup = api.client(Role.SUPERVISOR)
    assert sup.get("/api/v1/evidence/clip-old").status_code == 200
    assert run_retention(db, store, app.state.ctx.settings.retention).purged == 2
    for evidence_id in ("clip-old", "snap-old"):
        r = sup.get(f"/api/v1/evidence/{evidence_id}")
        assert r.status_code == 410, r.text
        assert "retention policy" in r.json()["detail"] and evidence_id in r.json()["detail"]
    assert sup.get("/api/v1/evidence/clip-never").status_code == 404  # unknown stays 404


@pytest.mark.db
def test_every_view_of_a_clip_is_in_the_audit_log(app: FastAPI, api: ApiUsers) -> None:
    db: Database = app.state.ctx.db
    register(db)
    store_evidence(db, app.state.ctx.evidence, "clip-a", datetime.now(UTC))
    store_evidence(db, app.state.ctx.evidence, "snap-a", datetime.now(UTC), content_type="image/jpeg")
    sup, duty, admin = api.client(Role.SUPERVISOR), api.client(Role.DUTY), api.client(Role.ADMIN)

    def views() -> list[tuple[str, str]]:
        items = admin.get("/api/v1/audit", params={"entity": "evidence", "action": "view"}).json()["items"]
        return sorted((a["actor"], a["entity_id"]) for a in items)

    # A request that does not start at byte 0 is a view too (else `Range: bytes=1-` would read unaudited).
    assert sup.get("/api/v1/evidence/clip-a", headers={"Range": "bytes=1-"}).status_code == 206
    assert views() == [("supervisor-user", "clip-a")]
    # The player's further range requests belong to the same viewing: no entry per seek.
    for rng in ("bytes=0-", "bytes=100-199", "bytes=-10"):
        assert sup.get("/api/v1/evidence/clip-a", headers={"Range": rng}).status_code == 206
    assert views() == [("supervisor-user", "clip-a")]
    # Another person, another clip: each is recorded.
    assert duty.get("/api/v1/evidence/clip-a").status_code == 200
    assert sup.get("/api/v1/evidence/snap-a").status_code == 200
    assert views() == [("duty-user", "clip-a"), ("supervisor-user", "clip-a"), ("supervisor-user", "snap-a")]
    # Refused requests read nothing and are not views.
    assert api.client(Role.VIEWER).get("/api/v1/evidence/clip-a").status_code == 403
    assert len(views()) == 3


@pytest.mark.db
def test_a_viewing_window_later_is_a_new_view(app: FastAPI, api: ApiUsers) -> None:
    db: Database = app.state.ctx.db
    register(db)
    store_evidence(db, app.state.ctx.evidence, "clip-b", datetime.now(UTC))
    sup = api.client(Role.SUPERVISOR)
    assert sup.get("/api/v1/evidence/clip-b").status_code == 200
    with db.session() as s:  # the first view was recorded six minutes ago
        for row in s.scalars(select(AuditLog).where(AuditLog.action == "view")):
            row.at = row.at - timedelta(minutes=6)
    assert sup.get("/api/v1/evidence/clip-b", headers={"Range": "bytes=500-"}).status_code == 206
    with db.session() as s:
        assert len(list(s.scalars(select(AuditLog).where(AuditLog.action == "view")))) == 2


# -- scheduled and from the command line --------------------------------------------------------------------
@pytest.mark.db
def test_the_scheduler_runs_the_job_repeatedly(db: Database, tmp_path: Path) -> None:
    register(db)
    store = LocalEvidenceStore(tmp_path / "evidence")
    old = datetime.now(UTC) - timedelta(days=40)
    store_evidence(db, store, "clip-first", old)
    reports: list[RetentionReport] = []
    scheduler = RetentionScheduler(db, store, RetentionSettings(interval_s=0.2), on_run=reports.append).start()
    try:
        deadline = time.monotonic() + 20
        while _purged(db)["clip-first"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _purged(db)["clip-first"] is not None
        store_evidence(db, store, "clip-second", old)  # arrives after the first run: a later run takes it
        while _purged(db)["clip-second"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _purged(db)["clip-second"] is not None
    finally:
        scheduler.stop()
    assert scheduler.runs >= 2 and scheduler.failures == 0 and sum(r.purged for r in reports) == 2
    assert _files(store.root) == set()
    assert not scheduler._thread or not scheduler._thread.is_alive()


@pytest.mark.db
def test_retention_command(db_url: str, db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    register(db)
    monkeypatch.setenv("CW_DASHBOARD_EVIDENCE_DIR", str(tmp_path / "evidence"))
    store = LocalEvidenceStore(tmp_path / "evidence")
    store_evidence(db, store, "clip-due", datetime.now(UTC) - timedelta(days=31))
    store_evidence(db, store, "clip-kept", datetime.now(UTC) - timedelta(days=20))
    assert main(["dashboard", "--database-url", db_url, "retention", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert dry["dry_run"] is True and dry["due_ids"] == ["clip-due"] and dry["purged"] == 0
    assert _files(store.root) == {"clip-due.mp4", "clip-kept.mp4"}
    monkeypatch.setenv("CW_DASHBOARD_RETENTION__DAYS", "10")  # configurable from the environment
    assert main(["dashboard", "--database-url", db_url, "retention"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["purged"] == 2 and _files(store.root) == set()
    assert _purge_audits(db)[0].actor == "cli:retention"


# -- the pages ------------------------------------------------------------------------------------------
@pytest.mark.db
def test_pages_show_the_policy_and_purged_evidence(app: FastAPI, api: ApiUsers) -> None:
    db: Database = app.state.ctx.db
    store = app.state.ctx.evidence
    register(db)
    old = datetime.now(UTC) - timedelta(days=45)
    ingest_event(db, "evt-purged1", [store_evidence(db, store, "clip-p1", old),
                                     store_evidence(db, store, "snap-p1", old, content_type="image/jpeg")])
    ingest_event(db, "evt-kept001", [store_evidence(db, store, "clip-k1", datetime.now(UTC))])
    admin = api.browser(Role.ADMIN)
    page = admin.get("/admin/retention", params={"lang": "en"})
    assert page.status_code == 200
    text = page.text
    assert "Keep evidence of confirmed violations (days)" in text and "365" in text
    assert "Due for deletion at the next run" in text
    assert (store.root / "edge-a" / "clip-p1.mp4").is_file()  # the page's dry run touched nothing

    assert run_retention(db, store, app.state.ctx.settings.retention).purged == 2
    with db.session() as s:
        pks = {e.event_id: e.id for e in s.scalars(select(Event))}
    purged_page = admin.get(f"/review/{pks['evt-purged1']}").text
    assert 'data-evidence="purged"' in purged_page and "<video" not in purged_page
    assert "/api/v1/evidence/clip-p1" not in purged_page and "/api/v1/evidence/snap-p1" not in purged_page
    kept_page = admin.get(f"/review/{pks['evt-kept001']}").text
    assert "<video" in kept_page and 'data-evidence="purged"' not in kept_page
