"""Crash-safe clips, fast: real fragmented MP4s cut where a kill could cut them, recovered to playable
faststart MP4s (or reported lost), and the recorder's spool jobs from request to release."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.payloads import EventMessage
from edge.evidence import ClipJob, EvidenceReady, EvidenceRecorder, recover
from edge.evidence.clip import ClipError, FragmentWriter, complete_prefix, remux_faststart
from edge.evidence.spool import ClipSpool
from tests.edge.evidence_support import event_message
from tests.edge.test_evidence import frames, probe

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FPS = 5


def fragmented(path: Path, n: int) -> list[int]:
    """Record ``n`` frames; returns the file size after each frame (what a kill at that moment leaves)."""
    writer = FragmentWriter(path, FPS)
    sizes = []
    for img in frames(n):
        writer.add(img)
        sizes.append(path.stat().st_size)
    writer.close()
    return sizes


def faststart(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def test_fragments_reach_the_disk_while_recording(tmp_path: Path) -> None:
    sizes = fragmented(tmp_path / "a.frag.mp4", 23)
    # A keyframe per second: the file grows by a complete fragment every 5 frames, not only at the end.
    assert len(set(sizes)) >= 4
    assert sizes[4] < sizes[9] < sizes[14] < sizes[-1]


@pytest.mark.parametrize("whole", [1, 2, 4, 6])
def test_truncated_recording_remuxes_to_playable_faststart_mp4(tmp_path: Path, whole: int) -> None:
    src = tmp_path / "a.frag.mp4"
    sizes = fragmented(src, 40)
    ends = sorted(set(sizes))  # where the file stood after each flushed fragment (the first: the header)
    data = src.read_bytes()
    cut = tmp_path / "cut.frag.mp4"
    cut.write_bytes(data[: (ends[whole] + ends[whole + 1]) // 2])  # killed halfway through a fragment
    out = tmp_path / "clip.mp4"
    n = remux_faststart(cut, out)
    codec, pix, decoded, duration, size = probe(out)
    assert (codec, pix, size) == ("h264", "yuv420p", (320, 240))
    assert decoded == n and 0 < n < 40  # only whole fragments, each decodable from its keyframe
    assert n == sizes.index(ends[whole])  # ... all of them: every frame before the cut fragment
    assert abs(duration - n / FPS) < 0.25
    assert faststart(out) and not out.with_suffix(".part.mp4").exists()


def test_complete_recording_keeps_every_frame(tmp_path: Path) -> None:
    src = tmp_path / "a.frag.mp4"
    fragmented(src, 23)
    assert complete_prefix(src.read_bytes()) == src.stat().st_size
    out = tmp_path / "clip.mp4"
    assert remux_faststart(src, out) == 23
    assert probe(out)[2] == 23 and faststart(out)


def test_recording_without_a_complete_fragment_is_an_error_not_a_file(tmp_path: Path) -> None:
    src = tmp_path / "a.frag.mp4"
    sizes = fragmented(src, 12)
    src.write_bytes(src.read_bytes()[: sizes[0] + 40])  # header and the start of the first fragment
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipError):
        remux_faststart(src, out)
    assert not out.exists() and not out.with_suffix(".part.mp4").exists()


def _job(spool: ClipSpool, event_id: str, *, recorded: bool = False) -> ClipJob:
    job = ClipJob(evidence_id=f"{event_id}-clip", event=event_message(event_id, T0), fps=FPS, created_at=T0,
                  recorded=recorded)
    spool.save(job)
    return job


def test_recover_finishes_truncated_reports_lost_and_cleans_up(tmp_path: Path) -> None:
    cam = tmp_path / "cam1"
    spool = ClipSpool(cam / "spool")
    # 1. killed mid-recording, 3 s in: recovered, truncated.
    cut = _job(spool, "event-cut-0001")
    fragmented(spool.fragments(cut), 20)
    full = spool.fragments(cut).read_bytes()
    spool.fragments(cut).write_bytes(full[: int(len(full) * 0.7)])
    # 2. killed before the first fragment reached the disk: lost, and said so.
    lost = _job(spool, "event-lost-0002")
    spool.fragments(lost).write_bytes(full[:900])
    # 3. recording closed, killed before the upload MP4 was made: recovered whole.
    whole = _job(spool, "event-whole-0003", recorded=True)
    fragmented(spool.fragments(whole), 15)
    # 4. finished and handed to the outbox, killed before the event message: re-sent as it was.
    done = _job(spool, "event-done-0004", recorded=True)
    fragmented(spool.fragments(done), 10)
    from edge.evidence.spool import finalise

    ready_before = finalise(done, spool, cam)
    # Half-written files of the killed run.
    (cam / "event-x-clip.part.mp4").write_bytes(b"\0" * 100)
    (spool.dir / "event-y-clip.json.tmp").write_bytes(b"{")

    delivered: list[tuple[EvidenceReady | None, EventMessage]] = []
    report = recover(tmp_path, lambda ready, message: delivered.append((ready, message)))

    assert (report.recovered, report.truncated, report.lost, len(report.removed)) == (3, 1, 1, 2)
    by_event = {m.event_id: (r, m) for r, m in delivered}
    assert len(by_event) == len(delivered) == 4
    for event_id, status in (("event-cut-0001", "truncated"), ("event-whole-0003", None),
                             ("event-done-0004", None)):
        ready, message = by_event[event_id]
        assert ready is not None and ready.path.exists()
        assert message.details.get("clip_status") == status
        assert [r.kind for r in message.evidence] == ["clip"] and message.evidence[0] == ready.ref
        assert hashlib.sha256(ready.path.read_bytes()).hexdigest() == ready.ref.sha256
        _, _, n, duration, _ = probe(ready.path)
        assert ready.ref.duration_s == n / FPS and abs(duration - n / FPS) < 0.25
        assert (message.seq, message.phase, message.started_at) == (0, "start", T0)  # fills, never advances
    clips = {event_id: ready for event_id, (ready, _) in by_event.items() if ready is not None}
    assert probe(clips["event-whole-0003"].path)[2] == 15
    assert clips["event-done-0004"].ref == ready_before.ref
    assert 0 < probe(clips["event-cut-0001"].path)[2] < 20
    ready, message = by_event["event-lost-0002"]
    assert ready is None and message.details["clip_status"] == "lost" and message.evidence == []
    # Nothing half-written is left, and the spool is empty: a second start has nothing to do.
    assert sorted(p.name for p in cam.rglob("*") if p.is_file()) == sorted(
        f"{e}-clip.mp4" for e in ("event-cut-0001", "event-whole-0003", "event-done-0004"))
    again = recover(tmp_path, lambda *_: pytest.fail("nothing should be left to recover"))
    assert (again.recovered, again.lost) == (0, 0)


def test_recorder_keeps_a_durable_job_until_released(tmp_path: Path) -> None:
    ready: list[EvidenceReady] = []
    got = threading.Event()

    def on_ready(r: EvidenceReady) -> None:
        ready.append(r)
        got.set()

    rec = EvidenceRecorder("cam1", tmp_path, fps=FPS, pre_roll_s=2, post_roll_s=3, on_ready=on_ready)
    imgs = frames(40)
    for i, img in enumerate(imgs[:15]):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    event = event_message("event-abc-123", T0 + timedelta(seconds=14 / FPS))
    rec.request_clip(event)
    record = rec.spool.record("event-abc-123-clip")
    assert ClipJob.model_validate_json(record.read_bytes()).event == event  # durable before any frame
    assert rec.busy
    for i, img in enumerate(imgs[15:], start=15):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    assert got.wait(60)
    rec.close()
    assert not rec.busy
    clip = ready[0]
    assert clip.job is not None and clip.job.recorded and clip.job.ref == clip.ref
    assert probe(clip.path)[2] == 11 + 15 and faststart(clip.path)
    # Until the event message with the clip is in the outbox, a restart would re-send it from the spool.
    assert ClipJob.model_validate_json(record.read_bytes()).ref == clip.ref
    rec.release(clip.job)
    assert list(rec.spool.dir.iterdir()) == []


def test_events_sent_on_one_frame_share_one_recording(tmp_path: Path) -> None:
    ready: list[EvidenceReady] = []
    both = threading.Event()

    def on_ready(r: EvidenceReady) -> None:
        ready.append(r)
        if len(ready) == 2:
            both.set()

    rec = EvidenceRecorder("cam1", tmp_path, fps=FPS, pre_roll_s=2, post_roll_s=3, on_ready=on_ready)
    imgs = frames(40)
    for i, img in enumerate(imgs[:15]):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    at = T0 + timedelta(seconds=14 / FPS)
    first, second = event_message("event-one-0001", at), event_message("event-two-0002", at)
    rec.request_clip(first)
    rec.request_clip(second)
    for i, img in enumerate(imgs[15:20], start=15):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    deadline = threading.Event()
    a, b = (rec.spool.fragments(ClipJob.model_validate_json(rec.spool.record(f"{e.event_id}-clip").read_bytes()))
            for e in (first, second))
    for _ in range(200):  # the worker links the second recording to the first once it has opened
        if b.exists():
            break
        deadline.wait(0.05)
    # Mid-recording, one file under both names: a kill now leaves each job the same recoverable fragments.
    assert a.stat().st_ino == b.stat().st_ino and a.stat().st_nlink == 2
    for i, img in enumerate(imgs[20:], start=20):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    assert both.wait(60)
    rec.close()
    assert not rec.busy
    by_event = {r.event_id: r for r in ready}
    assert set(by_event) == {first.event_id, second.event_id}
    one, two = by_event[first.event_id], by_event[second.event_id]
    assert one.path != two.path and one.ref.id != two.ref.id
    assert one.ref.sha256 == two.ref.sha256  # the same recording, remuxed under each clip's name
    assert probe(two.path)[2] == 11 + 15 and faststart(two.path)
    for r in ready:
        assert r.job is not None and r.job.recorded
        rec.release(r.job)
    assert list(rec.spool.dir.iterdir()) == []


def test_a_kill_while_two_events_share_a_recording_recovers_both(tmp_path: Path) -> None:
    cam = tmp_path / "cam1"
    spool = ClipSpool(cam / "spool")
    first, second = _job(spool, "event-one-0001"), _job(spool, "event-two-0002")
    fragmented(spool.fragments(first), 20)
    full = spool.fragments(first).read_bytes()
    spool.fragments(first).write_bytes(full[: int(len(full) * 0.7)])  # killed mid-recording
    spool.fragments(second).hardlink_to(spool.fragments(first))
    delivered: list[tuple[EvidenceReady | None, EventMessage]] = []
    report = recover(tmp_path, lambda r, m: delivered.append((r, m)))
    assert (report.recovered, report.truncated, report.lost) == (2, 2, 0)
    assert all(r is not None and m.details["clip_status"] == "truncated" and 0 < probe(r.path)[2] < 20
               for r, m in delivered)
