"""Outbox durability with a real SQLite file: rows survive a killed process, leave only on ack."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import edge.outbox as outbox_module
from broker.receipts import message_digest
from edge.outbox import Outbox, ReceiptPolicy

TOPIC = "cw/v1/hall1/edge-a/cam1/w01/event"


def test_messages_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    ids = [box.put(f"t/{i}", f"m{i}".encode(), kind="event") for i in range(5)]
    box.ack(ids[1])
    box.close()
    again = Outbox(path)
    assert [m.payload for m in again.pending(10)] == [b"m0", b"m2", b"m3", b"m4"]
    assert [m.payload for m in again.pending(10, exclude={ids[0]})][:1] == [b"m2"]


def test_killed_writer_loses_nothing_committed(tmp_path: Path) -> None:
    """A separate process enqueues then dies with SIGKILL mid-run: every row it reported is there."""
    path = tmp_path / "outbox.sqlite"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from edge.outbox import Outbox
        box = Outbox(__import__('pathlib').Path({str(path)!r}))
        for i in range(200):
            box.put('cw/v1/hall1/edge-a/cam/w/event', str(i).encode(), kind='event')
            print(i, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    reported = proc.stdout.split()
    assert len(reported) == 200
    box = Outbox(path)
    assert [m.payload.decode() for m in box.pending(1000)] == reported


def test_full_outbox_drops_state_before_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_messages=10)
    box.put("s", b"state-0", kind="state", retain=True)
    for i in range(9):
        box.put("e", f"event-{i}".encode(), kind="event")
    box.put("e", b"event-9", kind="event")
    payloads = [m.payload for m in box.pending(100)]
    assert b"state-0" not in payloads and len(payloads) == 10
    assert box.counter("dropped_messages") == 1 and box.counter("dropped_events") == 0
    box.put("e", b"event-10", kind="event")
    assert box.counter("dropped_events") == 1
    assert box.pending(1)[0].payload == b"event-1"


def test_full_outbox_first_forgets_what_the_broker_already_has(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_messages=10)
    rows = [box.put("e", f"event-{i}".encode(), kind="event") for i in range(10)]
    box.ack(rows[3])  # PUBACKed, waiting for its receipt
    box.put("e", b"event-10", kind="event")
    assert box.counter("forgotten_unreceipted") == 1 and box.counter("dropped_events") == 0
    assert b"event-3" not in [m.payload for m in box.pending(100)] and box.awaiting_receipt() == 0


def test_clip_budget_drops_oldest_clips(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_clip_bytes=1024 * 1024)
    files = []
    for i in range(3):
        f = tmp_path / f"clip{i}.mp4"
        f.write_bytes(b"x" * 400 * 1024)
        files.append(f)
        assert box.put_clip(f"clip-{i}", f, "0" * 64, "video/mp4")
    assert [c.evidence_id for c in box.due_clips(limit=10)] == ["clip-1", "clip-2"]
    assert not files[0].exists() and box.counter("dropped_clips") == 1
    clip = box.due_clips()[0]
    box.clip_retry(clip, 60)
    assert [c.evidence_id for c in box.due_clips()] == ["clip-2"]
    box.clip_done(box.due_clips()[0])
    assert not files[2].exists()
    assert box.clip_stats() == (1, 400 * 1024)


def test_a_pubacked_message_waits_for_its_receipt(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a = box.put(TOPIC, b"a", kind="event")
    box.put(TOPIC, b"b", kind="event")
    box.ack(a)  # PUBACK: parked, not gone
    assert box.depth() == 2 and box.unsent() == 1 and box.awaiting_receipt() == 1
    assert [m.payload for m in box.pending(10)] == [b"b"]
    # The receipt settles a row whatever its state: parked (a) or never sent (b); unknown digests are ignored.
    assert box.receipted([message_digest(TOPIC, b"a"), message_digest(TOPIC, b"b"), "0" * 16]) == 2
    assert box.depth() == 0
    box.ack(a)  # a PUBACK the receipt overtook changes nothing
    assert box.depth() == 0


def test_a_message_overtaken_by_a_receipted_one_is_presumed_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    clock = [1000.0]
    monkeypatch.setattr(outbox_module.time, "time", lambda: clock[0])
    box = Outbox(tmp_path / "o.sqlite", receipts=ReceiptPolicy(overtaken_s=60))
    rows = {name: box.put(TOPIC, name.encode(), kind="event") for name in ("old", "mid", "new")}
    box.ack(rows["old"])  # t=1000
    clock[0] = 1030.0
    box.ack(rows["mid"])  # t=1030
    clock[0] = 1070.0
    box.ack(rows["new"])  # t=1070
    assert box.pending(10) == []
    # "new" is receipted: "old" was PUBACKed 70 s before it (> 60 s) and is presumed lost; "mid" (40 s) is
    # not: it may still be queued behind a slow ingest.
    assert box.receipted([message_digest(TOPIC, b"new")]) == 1
    assert [(m.payload, m.sends) for m in box.pending(10)] == [(b"old", 1)]
    assert box.counter("presumed_lost") == 1 and box.changed.is_set()
    # A receipt for a message that overtakes nothing changes nothing.
    assert box.receipted([message_digest(TOPIC, b"mid")]) == 1
    assert box.counter("presumed_lost") == 1


def test_the_safety_net_resends_a_silent_devices_message_with_backoff(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(outbox_module.time, "time", lambda: clock[0])
    box = Outbox(tmp_path / "o.sqlite", receipts=ReceiptPolicy(first_s=100, max_s=250))
    row = box.put(TOPIC, b"a", kind="event")
    due_after = []
    for _ in range(4):
        box.ack(row)
        start = clock[0]
        while not box.pending(1):
            clock[0] += 1
        due_after.append(clock[0] - start)
    assert due_after == [100, 200, 250, 250]  # doubling per send, capped


def test_without_receipts_the_puback_settles_the_row(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", receipts=ReceiptPolicy(enabled=False))
    row = box.put(TOPIC, b"a", kind="event")
    box.ack(row)
    assert box.depth() == 0


def test_an_outbox_file_from_before_receipts_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
            qos INTEGER NOT NULL DEFAULT 1, retain INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL,
            created_at REAL NOT NULL);
        INSERT INTO messages (topic, payload, kind, created_at) VALUES ('t/1', x'6f6c64', 'event', 0);
    """)
    db.commit()
    db.close()
    box = Outbox(path)
    assert [m.payload for m in box.pending(10)] == [b"old"]
    assert box.receipted([message_digest("t/1", b"old")]) == 1 and box.depth() == 0
