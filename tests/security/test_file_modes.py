"""Red-team finding 14 (parts): the edge outbox was created 0644 and the project's Mosquitto config ran the
broker as root. The outbox (and its WAL), the clip spool and its files are owner-only; Mosquitto started
as root (as this test harness may be) drops to an unprivileged account and still serves the contract."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.codec import encode
from broker.mosquitto import broker_account
from broker.payloads import EventMessage, EventPhase, NodeStatus, Rule, Severity, StatusMessage
from edge.evidence.spool import ClipJob, ClipSpool
from edge.outbox import Outbox
from tests.security.conftest import Rig
from tests.support.mqtt import Collector


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outbox_and_clip_spool_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which the outbox used to come out 0644
    try:
        outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
        outbox.put("cw/v1/hall1/edge-a/cam1/w01/event", b"{}", kind="event")
        spool = ClipSpool(tmp_path / "edge" / "cam1" / "spool")
        now = datetime.now(UTC)
        event = EventMessage(site="hall1", device="edge-a", camera="cam1", window="w01", event_id="evt-00000001",
                             seq=0, phase=EventPhase.START, rule=Rule.PHONE_USE, severity=Severity.LOW,
                             started_at=now, sent_at=now, confidence=0.5)
        job = ClipJob(evidence_id="evt-00000001-clip", event=event, fps=10.0, created_at=now)
        spool.save(job)
    finally:
        os.umask(old)
    files = [tmp_path / "edge" / "outbox.sqlite", *(tmp_path / "edge").glob("outbox.sqlite-*")]
    assert files and all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}
    assert mode(spool.dir) == 0o700
    assert mode(spool.record(job.evidence_id)) == 0o600


@pytest.mark.integration
def test_mosquitto_does_not_run_as_root(rig: Rig) -> None:
    if rig.engine != "mosquitto":
        pytest.skip("the embedded broker runs inside the calling process")
    proc = rig.server.proc  # type: ignore[union-attr]
    assert proc is not None
    uids = [line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if line.startswith("Uid:")]
    effective = int(uids[0].split()[2])
    account = broker_account()
    expected = account.pw_uid if account is not None else os.geteuid()
    assert effective == expected and (os.geteuid() != 0 or effective != 0)
    # ...and still serves the contract: auth, ACL and persistence files are readable to it.
    watcher = rig.client("ops")
    inbox = Collector(watcher, ["cw/v1/#"])
    status = StatusMessage(site=rig.victim.site, device=rig.victim.device, status=NodeStatus.ONLINE,
                           at=datetime.now(UTC))
    rig.publish(rig.victim.device, [(rig.victim.topic("status"), encode(status))])
    assert [t for t, _ in inbox.wait_for(1, 10)] == [rig.victim.topic("status")]
    watcher.disconnect()
    watcher.loop_stop()

