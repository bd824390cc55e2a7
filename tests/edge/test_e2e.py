"""End to end: the real office clip through ``counterwatch edge run`` to a real Mosquitto, read back as
the dashboard; evidence to a real HTTP receiver; the broker is stopped mid-run and nothing is lost."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from broker.boxes import DETAILS_KEY as BOXES_KEY
from broker.boxes import decode_boxes
from broker.codec import decode
from broker.payloads import CameraHealth, EventMessage, EventPhase, Rule, StateMessage, StatusMessage
from broker.topics import INGEST_SUBSCRIPTIONS
from tests.edge.evidence_server import EvidenceServer
from tests.support.mqtt import BrokerHandle, Collector, connect

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "device-upload-token"


def edge_config(tmp_path: Path, broker: BrokerHandle, clip: Path, dashboard_url: str) -> Path:
    office = yaml.safe_load((ROOT / "config/office-cctv.yaml").read_text())
    windows = [w for w in office["cameras"][0]["windows"] if w["id"] in ("station-1", "station-4")]
    config = {
        **office,
        "mqtt": {"host": broker.host, "port": broker.port, "username": "edge-a",
                 "password": broker.passwords["edge-a"], "keepalive": 10},
        "dashboard": {"url": dashboard_url, "token": TOKEN},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "evidence": {"dir": str(tmp_path / "evidence"), "pre_roll_s": 2, "post_roll_s": 2},
        "rules": {**office["rules"], "unattended_s": 3, "absence_s": 8},
        "heartbeat_s": 2,
        "state_refresh_s": 2,  # something to send every 2 s of video, also while the broker is away
        "cameras": [{"id": "cam5", "source": str(clip), "analysis_fps": 5, "realtime": True,
                     "windows": windows}],
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def outbox_payloads(path: Path, *, unsent_only: bool = False) -> list[bytes]:
    """Rows in the edge's outbox; ``unsent_only``: those the broker has not acknowledged (the others wait
    for a delivery receipt, which only a real dashboard ingest sends, not this test's collector)."""
    where = " WHERE resend_at IS NULL" if unsent_only else ""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [bytes(r[0]) for r in db.execute(f"SELECT payload FROM messages{where} ORDER BY id")]
    finally:
        db.close()


@pytest.mark.e2e
@pytest.mark.integration
@pytest.mark.slow
def test_office_clip_end_to_end(tmp_path: Path, fresh_mosquitto: BrokerHandle, office_clip: Path) -> None:
    broker = fresh_mosquitto
    dashboard = broker.client("dashboard", client_id="dashboard-e2e", clean=False)
    assert not connect(dashboard, broker.host, broker.port).is_failure
    collector = Collector(dashboard, INGEST_SUBSCRIPTIONS)

    with EvidenceServer(TOKEN) as evidence:
        config = edge_config(tmp_path, broker, office_clip, evidence.url)
        log = (tmp_path / "edge.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "counterwatch.cli", "edge", "run", "--config", str(config), "--until-eof",
             "--drain-timeout", "90"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            # Wait for the first event to reach the dashboard, then take the broker away for a while.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(t.endswith("/event") for t, _ in collector.messages):
                assert proc.poll() is None, (tmp_path / "edge.log").read_text()
                time.sleep(0.2)
            assert any(t.endswith("/event") for t, _ in collector.messages), "no event before the outage"
            broker.stop()
            queued_while_down: list[bytes] = []
            deadline = time.monotonic() + 90
            while len(queued_while_down) < 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
                queued_while_down = outbox_payloads(tmp_path / "outbox.sqlite")
            broker.start()
            rc = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
        edge_log = (tmp_path / "edge.log").read_text()
        assert rc == 0, edge_log
        time.sleep(2)  # last deliveries to the dashboard's session
        dashboard.loop_stop()
        dashboard.disconnect()

        messages = [decode(t, p)[1] for t, p in collector.messages]  # every message satisfies the contract
        payloads = {p for _, p in collector.messages}

        # -- nothing lost across the outage ---------------------------------------------------------------
        assert queued_while_down, "the outbox should have held messages while the broker was down"
        assert all(p in payloads for p in queued_while_down), "a message queued during the outage never arrived"
        assert outbox_payloads(tmp_path / "outbox.sqlite", unsent_only=True) == []
        assert set(outbox_payloads(tmp_path / "outbox.sqlite")) <= payloads  # kept for receipts, all delivered

        # -- node status and camera health ----------------------------------------------------------------
        statuses = [m for m in messages if isinstance(m, StatusMessage)]
        assert statuses and statuses[0].status.value == "online"
        assert any(isinstance(m, CameraHealth) and m.status == "ok" for m in messages)

        # -- presence state: the empty desk never reads present -------------------------------------------
        states: dict[str, list[StateMessage]] = defaultdict(list)
        for m in messages:
            if isinstance(m, StateMessage):
                states[m.window].append(m)
        assert set(states) == {"station-1", "station-4"}
        assert not any(s.present for s in states["station-4"])
        assert all(s.in_service_hours and s.observed for ss in states.values() for s in ss)

        # -- event lifecycles: complete, ordered, duplicates keep their ids ------------------------------
        events: dict[str, list[EventMessage]] = defaultdict(list)
        for m in messages:
            if isinstance(m, EventMessage):
                events[m.event_id].append(m)
        assert events
        empty_desk = {e[0].rule for e in events.values() if e[0].window == "station-4"}
        assert {Rule.UNATTENDED_NO_SIGN, Rule.ABSENCE_OVER_30MIN} <= empty_desk
        for event_id, lifecycle in events.items():
            first_seen: list[int] = []
            for m in lifecycle:
                if m.seq not in first_seen:
                    first_seen.append(m.seq)
            assert first_seen == sorted(first_seen), f"{event_id} arrived out of order: {first_seen}"
            assert first_seen == list(range(len(first_seen))), f"{event_id} lost a message: {first_seen}"
            assert lifecycle[0].phase is EventPhase.START
            assert any(m.phase is EventPhase.END for m in lifecycle)
            assert len({(m.rule, m.window, m.started_at) for m in lifecycle}) == 1

        # -- evidence: snapshot on start, clip later, both uploaded and decodable -------------------------
        refs = {r.id: r for lifecycle in events.values() for m in lifecycle for r in m.evidence}
        clips = [r for r in refs.values() if r.kind == "clip"]
        snaps = [r for r in refs.values() if r.kind == "snapshot"]
        assert clips and snaps
        for ref in refs.values():
            assert ref.id in evidence.stored, f"evidence {ref.id} was not uploaded"
            ctype, body, device = evidence.stored[ref.id]
            assert (ctype, device) == (ref.content_type, "edge-a")
            import hashlib

            assert hashlib.sha256(body).hexdigest() == ref.sha256
        # -- what the model saw rides with the start message, in snapshot pixels (review -> training data) --
        for lifecycle in events.values():
            start = lifecycle[0]
            for snap in (r for r in start.evidence if r.kind == "snapshot"):
                picture = cv2.imdecode(np.frombuffer(evidence.stored[snap.id][1], np.uint8), cv2.IMREAD_COLOR)
                height, width = picture.shape[:2]
                boxes = decode_boxes(str(start.details[BOXES_KEY]))
                assert all(b.x2 <= width + 0.1 and b.y2 <= height + 0.1 for b in boxes), (boxes, width, height)
        clip = clips[0]
        clip_path = tmp_path / "clip.mp4"
        clip_path.write_bytes(evidence.stored[clip.id][1])
        with av.open(str(clip_path)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            duration = float(stream.duration * stream.time_base)
        assert stream.codec_context.name == "h264"
        assert clip.duration_s is not None and abs(duration - clip.duration_s) < 0.3
        assert 1.0 <= duration <= 2 + 2 + 0.5  # pre-roll + post-roll
        assert frames >= 5
