"""Mosquitto SIGKILLed mid-burst (persistence on, the project's config) and restarted on the same port.
Real outboxes and publishers -> real Mosquitto -> the real ingest process -> SQLite.

Every event sent is stored exactly once and complete, no duplicate row; the health figures say what
happened: one broker restart, each publisher and the ingest lost the connection and came back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support.faults import fault_rig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST_RATE = 200.0  # rule outputs per second over all cameras: a burst, well above a hall's steady rate
BURST_S = 10.0
KILL_AFTER_S = 3.0
DOWN_S = 2.0
OVERTAKEN_S = 2.0  # edge: presumed lost when a message PUBACKed this much later is receipted (default 60 s)


def test_broker_killed_mid_burst_loses_nothing(tmp_path: Path) -> None:
    with fault_rig(tmp_path, f"sqlite:///{tmp_path / 'dashboard.db'}", devices=2, cameras=3,
                   prefix="bkill", lost_when_overtaken_s=OVERTAKEN_S) as rig:
        rig.emit(2, 4.0)  # warm: the path works
        killed = threading.Event()
        stored_at_kill: list[int] = []

        def kill() -> None:
            from rigs.soak import event_rows

            stored_at_kill.append(event_rows(rig.db))
            rig.broker.kill_and_restart(DOWN_S)  # SIGKILL: no clean shutdown, no final persistence save
            killed.set()

        timer = threading.Timer(KILL_AFTER_S, kill)
        timer.start()
        started = time.monotonic()
        emitted = rig.emit(BURST_S, BURST_RATE)
        timer.join(30)
        burst_s = time.monotonic() - started
        assert killed.is_set()
        result = rig.drain(timeout=180)
        log = (tmp_path / "ingest" / "ingest.log").read_text()
        ingest_connects = log.count("ingest connected")
        figures: dict[str, object] = {
            "burst_outputs": emitted, "burst_s": round(burst_s, 1), "event_rows_at_kill": stored_at_kill,
            "broker_restarts": rig.broker.restarts,
            "publisher_connects": {d.device: d.publisher.connects for d in rig.devices},
            "publisher_disconnects": {d.device: d.publisher.disconnects for d in rig.devices},
            "ingest_connects": ingest_connects, "ingest_running": rig.ingest.running,
            "dead_letters": rig.dead_letters(),
            "presumed_lost_by_broker": sum(d.outbox.counter("presumed_lost") for d in rig.devices),
            "receipt_resends": sum(d.publisher.resent for d in rig.devices),
        }
        print(f"\nbroker kill: {result}\n{figures}")

    assert result["missing"] == 0 and result["incomplete"] == 0, (result, figures)
    assert result["unexpected"] == 0 and result["duplicate_rows"] == 0, result
    assert result["outbox_depth"] == 0, result
    # The kill landed mid-burst: some events were stored before it, and many were sent after it.
    assert 0 < stored_at_kill[0] < result["events_sent"], figures
    assert figures["broker_restarts"] == 1 and figures["ingest_running"], figures
    for device in rig.devices:
        assert device.publisher.disconnects >= 1 and device.publisher.connects >= 2, figures
    assert ingest_connects >= 2, figures
    assert figures["dead_letters"] == 0 and result["ingest_counters"].get("rejected", 0) == 0, result


def test_broker_killed_while_the_ingest_is_behind_loses_nothing(tmp_path: Path) -> None:
    """The broker holds a backlog for the ingest (the ingest was down; it is a burst the dashboard has not
    taken yet) when it is SIGKILLed: the backlog must survive the restart.

    Mosquitto saves its queues only every ``autosave_interval``, so the SIGKILL loses messages it had
    PUBACKed (without receipts: 48 of 56 here). The edge's outbox keeps each one until the dashboard's
    delivery receipt (broker/receipts.py); once the hall goes on working and newer messages are receipted,
    the older unreceipted ones are presumed lost and sent again."""
    with fault_rig(tmp_path, f"sqlite:///{tmp_path / 'dashboard.db'}", devices=2, cameras=2,
                   prefix="bkill2", lost_when_overtaken_s=OVERTAKEN_S) as rig:
        rig.emit(2, 4.0)
        rig.ingest.kill()  # its persistent session stays: the broker queues for it
        rig.emit(1, 100.0)
        from rigs.soak import wait_until

        assert wait_until(lambda: rig.unsent() == 0, 10), "the broker took (PUBACKed) the whole burst"
        waiting = sum(d.outbox.awaiting_receipt() for d in rig.devices)
        assert waiting > 0, "the burst waits for receipts the stopped ingest cannot send"
        rig.broker.kill_and_restart(1.0)
        rig.ingest.start()
        time.sleep(OVERTAKEN_S + 0.5)
        rig.emit(2, 4.0)  # the hall goes on working: these are receipted and overtake the lost ones
        result = rig.drain(timeout=60)
        resends = {d.device: d.publisher.resent for d in rig.devices}
        lost = {d.device: d.outbox.counter("presumed_lost") for d in rig.devices}
        print(f"\nbroker kill with the ingest behind: {result}; awaiting receipt at the kill: {waiting}; "
              f"presumed lost: {lost}; sent again: {resends}")
        assert sum(lost.values()) > 0 and sum(resends.values()) >= sum(lost.values()), (lost, resends)
    assert result["missing"] == 0 and result["incomplete"] == 0, result
    assert result["duplicate_rows"] == 0 and result["outbox_depth"] == 0, result
