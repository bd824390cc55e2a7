"""The edge SIGKILLed while an event's clip is being recorded, then started again.

Real parts throughout: ``counterwatch edge run`` as a child process on the office CCTV clip, the project's
Mosquitto, and the dashboard (its FastAPI app under uvicorn for evidence uploads, its ingest consumer into a
real database). The kill is timed from the edge's own spool: the moment a clip's job record exists, its
recording has a frame on disk and is not finished yet. After the restart every event of the killed run is
in the database once; every clip is uploaded, matches its hash and decodes at a plausible length (a clip
cut by the kill says ``clip_status: truncated``), or is reported lost; the heartbeat counts what happened;
no partial file is left behind."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import func, select

from dashboard.app import create_app
from dashboard.db.engine import Database
from dashboard.db.models import DeadLetter, Device, Event, Evidence
from dashboard.ingest.consumer import IngestConsumer
from dashboard.settings import DashboardSettings, MqttSettings
from edge.evidence import ClipJob
from edge.evidence.clip import logged_frames
from tests.dashboard.helpers import register
from tests.edge.test_e2e import edge_config, outbox_payloads
from tests.support.http import serve_app
from tests.support.mqtt import BrokerHandle

ROOT = Path(__file__).resolve().parents[2]
PRE_ROLL_S, POST_ROLL_S = 2, 4

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.db]


@dataclass
class Dashboard:
    url: str
    app: FastAPI
    db: Database
    token: str


@pytest.fixture
def dashboard(fresh_mosquitto: BrokerHandle, db: Database, settings: DashboardSettings) -> Iterator[Dashboard]:
    settings = settings.model_copy(update={"mqtt": MqttSettings(
        host=fresh_mosquitto.host, port=fresh_mosquitto.port, username="dashboard",
        password=fresh_mosquitto.passwords["dashboard"], client_id="dashboard-kill-midclip")})  # type: ignore[arg-type]
    app = create_app(settings, db=db)
    token = register(db)
    consumer = IngestConsumer.from_settings(settings, db).start()
    try:
        with serve_app(app, "uvicorn-kill-midclip") as base:
            yield Dashboard(base, app, db, token)
    finally:
        consumer.stop()


def start_edge(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "counterwatch.cli", "edge", "run", "--config", str(config), "--until-eof",
             "--drain-timeout", "90"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def recording(spool: Path) -> list[ClipJob]:
    """Clip jobs caught mid-recording: job record durable, at least one frame on disk, not closed."""
    caught = []
    for record in spool.glob("*.json"):
        try:
            job = ClipJob.model_validate_json(record.read_bytes())
            data = (spool / f"{job.evidence_id}.frames").read_bytes()
        except (OSError, ValueError):
            continue  # being written right now
        if not job.recorded and next(logged_frames(io.BytesIO(data)), None) is not None:
            caught.append(job)
    return caught


def events(db: Database) -> dict[str, Event]:
    with db.session() as s:
        rows = list(s.scalars(select(Event)))
        s.expunge_all()
    return {r.event_id: r for r in rows}


def heartbeat(db: Database) -> dict[str, Any]:
    with db.session() as s:
        device = s.get(Device, "edge-a")
        return dict(device.heartbeat or {}) if device else {}


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return bool(predicate())


def test_edge_killed_mid_clip_recovers_on_restart(tmp_path: Path, fresh_mosquitto: BrokerHandle,
                                                   dashboard: Dashboard, office_clip: Path) -> None:
    config = edge_config(tmp_path, fresh_mosquitto, office_clip, dashboard.url)
    doc = yaml.safe_load(config.read_text())
    doc["dashboard"]["token"] = dashboard.token
    evidence_dir, outbox = tmp_path / "edge-evidence", tmp_path / "outbox.sqlite"  # not the dashboard's store
    doc["evidence"].update(dir=str(evidence_dir), pre_roll_s=PRE_ROLL_S, post_roll_s=POST_ROLL_S)
    config.write_text(yaml.safe_dump(doc, allow_unicode=True))
    spool = evidence_dir / "cam5" / "spool"
    log = tmp_path / "edge.log"

    # -- run 1: killed the moment a clip is half recorded ---------------------------------------------------
    edge = start_edge(config, log)
    try:
        deadline = time.monotonic() + 120
        while not (caught := recording(spool)):
            assert edge.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no clip was ever caught mid-recording"
            time.sleep(0.05)
        edge.send_signal(signal.SIGKILL)
        edge.wait(10)
    finally:
        if edge.poll() is None:
            edge.kill()
    killed_at = datetime.now(UTC)
    jobs = {j.evidence_id: j for j in (ClipJob.model_validate_json(p.read_bytes()) for p in spool.glob("*.json"))}
    assert set(jobs) >= {j.evidence_id for j in caught}
    interrupted = {j.evidence_id for j in jobs.values() if j.ref is None and not j.recorded}
    assert interrupted, "the kill should have cut a recording short"
    queued = outbox_payloads(outbox)  # what the killed run had made durable but not yet delivered
    known = {j.event.event_id for j in jobs.values()} | {
        json.loads(p)["event_id"] for p in queued if b'"event_id"' in p}

    # -- run 2: the same node starts again and runs its camera to the end ---------------------------------
    edge = start_edge(config, log)
    try:
        rc = edge.wait(300)
    finally:
        if edge.poll() is None:
            edge.kill()
    edge_log = log.read_text()
    assert rc == 0, edge_log
    assert "recovered after the restart" in edge_log or "could not be recovered after the restart" in edge_log
    db = dashboard.db
    beat_done = wait_for(lambda: heartbeat(db).get("clips_recovered", 0) + heartbeat(db).get(
        "clips_lost_on_restart", 0) >= len(jobs), 20)
    assert wait_for(lambda: known <= set(events(db)), 20), "an event of the killed run never arrived"

    # -- every event of the killed run is in the database exactly once -----------------------------------
    stored = events(db)
    first_run = {i: e for i, e in stored.items() if e.started_at.replace(tzinfo=UTC) < killed_at}
    assert known <= set(first_run)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == len(stored)
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0, "a message broke the contract"
    same_event = {(e.window_id, e.rule, e.started_at) for e in first_run.values()}
    assert len(same_event) == len(first_run), "one event stored under two ids"
    assert len(stored) > len(first_run), "the restarted node should go on detecting"

    # -- every clip: uploaded, hash-verified, playable at a plausible length, or reported -----------------
    store = dashboard.app.state.ctx.evidence
    lost = 0
    truncated = 0
    for event_id, event in stored.items():
        clips = [r for r in event.evidence if r["kind"] == "clip"]
        status = event.details.get("clip_status")
        if status == "lost":
            assert not clips, event_id
            lost += 1
            continue
        assert len(clips) == 1, f"event {event_id} has no clip and no clip_status"
        ref = clips[0]
        with db.session() as s:
            row = s.get(Evidence, (event.device_id, ref["id"]))  # evidence is keyed per device
            assert row is not None, f"clip {ref['id']} of {event_id} was never uploaded"
            key, sha = row.storage_key, row.sha256
        with store.open(key) as fh:
            body = fh.read()
        assert sha == ref["sha256"] == hashlib.sha256(body).hexdigest()
        path = tmp_path / f"{ref['id']}.mp4"
        path.write_bytes(body)
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video))
            duration = float(video.duration * video.time_base)
        assert video.codec_context.name == "h264" and body.find(b"moov") < body.find(b"mdat")  # faststart
        assert abs(duration - ref["duration_s"]) < 0.3 and frames >= 5
        if status == "truncated":
            truncated += 1
            assert ref["id"] in interrupted
            assert 1.0 <= duration < PRE_ROLL_S + POST_ROLL_S  # cut short, but the start of it is there
        else:
            assert status is None
            assert 1.0 <= duration <= PRE_ROLL_S + POST_ROLL_S + 0.5
    clip_ids = {e.evidence_id for e in jobs.values()}
    assert all(f"{j.event.event_id[:40]}-clip" in clip_ids for j in jobs.values())
    assert truncated + lost == len(interrupted), "an interrupted clip is neither recovered nor reported lost"

    # -- the heartbeat says what happened ----------------------------------------------------------------
    assert beat_done, heartbeat(db)
    beat = heartbeat(db)
    assert beat["clips_recovered"] + beat["clips_lost_on_restart"] == len(jobs)
    assert (beat["clips_truncated"], beat["clips_lost_on_restart"]) == (truncated, lost)

    # -- nothing half-written, nothing left behind -------------------------------------------------------
    assert outbox_payloads(outbox) == []
    leftovers = sorted(str(p.relative_to(evidence_dir)) for p in evidence_dir.rglob("*") if p.is_file())
    assert leftovers == [], leftovers
