"""Crash-safe clips, fast: real frame logs cut where a kill could cut them, recovered to playable
faststart MP4s (or reported lost), and the recorder's spool jobs from request to release."""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest

from broker.payloads import EventMessage
from edge.evidence import ClipJob, EvidenceReady, EvidenceRecorder, recover
from edge.evidence.clip import ClipError, FrameLog, encode_frame_log, logged_frames
from edge.evidence.spool import ClipSpool
from tests.edge.evidence_support import event_message
from tests.edge.test_evidence import frames, probe

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FPS = 5


def logged(path: Path, n: int) -> list[int]:
    """Record ``n`` frames; returns the file size after each frame (what a kill at that moment leaves)."""
    frame_log = FrameLog(path)
    sizes = []
    for img in frames(n):
        frame_log.add(cv2.imencode(".jpg", img)[1].tobytes())
        sizes.append(path.stat().st_size)
    frame_log.close()
    return sizes


def faststart(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def test_every_frame_reaches_the_disk_while_recording(tmp_path: Path) -> None:
    sizes = logged(tmp_path / "a.frames", 23)
    assert all(a < b for a, b in itertools.pairwise(sizes))  # on disk frame by frame, not at the end
    with (tmp_path / "a.frames").open("rb") as log:
        assert len(list(logged_frames(log))) == 23


@pytest.mark.parametrize("whole", [1, 2, 7, 39])
def test_truncated_recording_encodes_to_playable_faststart_mp4(tmp_path: Path, whole: int) -> None:
    src = tmp_path / "a.frames"
    sizes = logged(src, 40)
    cut = tmp_path / "cut.frames"
    cut.write_bytes(src.read_bytes()[: (sizes[whole - 1] + sizes[whole]) // 2] if whole < 40 else src.read_bytes())
    out = tmp_path / "clip.mp4"
    n = encode_frame_log(cut, out, FPS)
    codec, pix, decoded, duration, size = probe(out)
    assert (codec, pix, size) == ("h264", "yuv420p", (320, 240))
    assert decoded == n == whole  # every frame written in full before the kill, and no other
    assert abs(duration - n / FPS) < 0.25
    assert faststart(out) and not out.with_suffix(".part.mp4").exists()


def test_a_damaged_record_ends_what_is_trusted(tmp_path: Path) -> None:
    src = tmp_path / "a.frames"
    sizes = logged(src, 12)
    data = bytearray(src.read_bytes())
    data[sizes[4] + 4:sizes[4] + 6] = b"XX"  # the sixth frame is no JPEG any more
    assert len(list(logged_frames(io.BytesIO(bytes(data))))) == 5
    assert list(logged_frames(io.BytesIO(b""))) == list(logged_frames(io.BytesIO(b"\0\0\0"))) == []
    claims_4gb = b"\xff\xff\xff\xff" + b"\xff\xd8" + b"\0" * 100  # a damaged length is not read as a record
    assert list(logged_frames(io.BytesIO(bytes(data[:sizes[1]]) + claims_4gb))) == list(
        logged_frames(io.BytesIO(bytes(data[:sizes[1]]))))


def test_recording_without_a_complete_frame_is_an_error_not_a_file(tmp_path: Path) -> None:
    src = tmp_path / "a.frames"
    sizes = logged(src, 12)
    src.write_bytes(src.read_bytes()[: sizes[0] - 40])  # killed while the first frame was written
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipError):
        encode_frame_log(src, out, FPS)
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
    sizes = logged(spool.frame_log(cut), 20)
    full = spool.frame_log(cut).read_bytes()
    spool.frame_log(cut).write_bytes(full[: int(len(full) * 0.7)])
    # 2. killed before the first frame reached the disk: lost, and said so.
    lost = _job(spool, "event-lost-0002")
    spool.frame_log(lost).write_bytes(full[: sizes[0] - 10])
    # 3. recording closed, killed before the upload MP4 was made: recovered whole.
    whole = _job(spool, "event-whole-0003", recorded=True)
    logged(spool.frame_log(whole), 15)
    # 4. finished and handed to the outbox, killed before the event message: re-sent as it was.
    done = _job(spool, "event-done-0004", recorded=True)
    logged(spool.frame_log(done), 10)
    from edge.evidence.spool import finalise

    ready_before = finalise(done, spool, cam)
    # 5. a recording of a version before frame logs (a fragmented MP4): lost, said so, and not left behind.
    _job(spool, "event-old-0005")
    (spool.dir / "event-old-0005-clip.frag.mp4").write_bytes(b"\0\0\0\x18ftypisom")
    # Half-written files of the killed run.
    (cam / "event-x-clip.part.mp4").write_bytes(b"\0" * 100)
    (spool.dir / "event-y-clip.json.tmp").write_bytes(b"{")

    delivered: list[tuple[EvidenceReady | None, EventMessage]] = []
    report = recover(tmp_path, lambda ready, message: delivered.append((ready, message)))

    assert (report.recovered, report.truncated, report.lost, len(report.removed)) == (3, 1, 2, 3)
    by_event = {m.event_id: (r, m) for r, m in delivered}
    assert len(by_event) == len(delivered) == 5
    assert by_event["event-old-0005"][0] is None and by_event["event-old-0005"][1].details["clip_status"] == "lost"
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
    a, b = (rec.spool.frame_log(ClipJob.model_validate_json(rec.spool.record(f"{e.event_id}-clip").read_bytes()))
            for e in (first, second))
    for _ in range(200):  # the worker links the second recording to the first once it has opened
        if b.exists():
            break
        deadline.wait(0.05)
    # Mid-recording, one file under both names: a kill now leaves each job the same recoverable frames.
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
    assert one.ref.sha256 == two.ref.sha256  # the same recording, encoded once, under each clip's name
    assert probe(two.path)[2] == 11 + 15 and faststart(two.path)
    for r in ready:
        assert r.job is not None and r.job.recorded
        rec.release(r.job)
    assert list(rec.spool.dir.iterdir()) == []


def test_a_kill_while_two_events_share_a_recording_recovers_both(tmp_path: Path) -> None:
    cam = tmp_path / "cam1"
    spool = ClipSpool(cam / "spool")
    first, second = _job(spool, "event-one-0001"), _job(spool, "event-two-0002")
    logged(spool.frame_log(first), 20)
    full = spool.frame_log(first).read_bytes()
    spool.frame_log(first).write_bytes(full[: int(len(full) * 0.7)])  # killed mid-recording
    spool.frame_log(second).hardlink_to(spool.frame_log(first))
    delivered: list[tuple[EvidenceReady | None, EventMessage]] = []
    report = recover(tmp_path, lambda r, m: delivered.append((r, m)))
    assert (report.recovered, report.truncated, report.lost) == (2, 2, 0)
    assert all(r is not None and m.details["clip_status"] == "truncated" and 0 < probe(r.path)[2] < 20
               for r, m in delivered)


def test_a_frame_that_cannot_be_logged_ends_that_clip_and_not_the_recorder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logged_so_far = {"n": 0}
    real_add = FrameLog.add

    def add(self: FrameLog, jpeg: bytes) -> None:
        logged_so_far["n"] += 1
        if logged_so_far["n"] == 8:
            raise OSError(28, "No space left on device")
        real_add(self, jpeg)

    monkeypatch.setattr(FrameLog, "add", add)
    ready: list[EvidenceReady] = []
    got = threading.Event()

    def on_ready(r: EvidenceReady) -> None:
        ready.append(r)
        got.set()

    cam = tmp_path / "cam1"
    rec = EvidenceRecorder("cam1", cam, fps=FPS, pre_roll_s=2, post_roll_s=3, on_ready=on_ready)
    imgs = frames(80)
    for i, img in enumerate(imgs[:15]):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    rec.request_clip(event_message("event-full-0001", T0 + timedelta(seconds=14 / FPS)))
    for i, img in enumerate(imgs[15:40], start=15):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    # The recorder goes on: the next event's clip is recorded and handed over whole.
    rec.request_clip(event_message("event-next-0002", T0 + timedelta(seconds=39 / FPS)))
    for i, img in enumerate(imgs[40:], start=40):
        rec.add_frame(img, T0 + timedelta(seconds=i / FPS))
    assert got.wait(60)
    rec.close()
    assert [r.event_id for r in ready] == ["event-next-0002"] and probe(ready[0].path)[2] == 11 + 15
    rec.release(ready[0].job)  # type: ignore[arg-type]
    # The first clip's job and its seven logged frames stayed in the spool: the next start recovers them.
    delivered: list[tuple[EvidenceReady | None, EventMessage]] = []
    report = recover(tmp_path, lambda r, m: delivered.append((r, m)))
    assert (report.recovered, report.truncated, report.lost) == (1, 1, 0)
    (clip, message), = delivered
    assert message.event_id == "event-full-0001" and message.details["clip_status"] == "truncated"
    assert clip is not None and probe(clip.path)[2] == 7
