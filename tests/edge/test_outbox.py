"""Outbox durability with a real SQLite file: rows survive a killed process, leave only on ack."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from edge.outbox import Outbox


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
