"""Evidence: H.264 MP4 that decodes back with the right length, pre/post-roll, blurred customer heads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np

from edge.detect import Detection
from edge.evidence import EvidenceReady, EvidenceRecorder, blur_customer_heads, write_mp4
from edge.zones import Zone
from tests.edge.evidence_support import event_message

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def frames(n: int, size: tuple[int, int] = (321, 241)) -> list[np.ndarray]:
    w, h = size
    out = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : (i * 7) % w] = (0, 128, 255)  # something that moves
        out.append(img)
    return out


def probe(path: Path) -> tuple[str, str, int, float, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        decoded = list(c.decode(s))
        duration = float(s.duration * s.time_base) if s.duration else float(c.duration / 1e6)
        return s.codec_context.name, decoded[0].format.name, len(decoded), duration, (s.width, s.height)


def test_mp4_is_h264_yuv420p_faststart_with_correct_duration(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    assert write_mp4(frames(25), path, fps=5) == 25
    codec, pix, n, duration, size = probe(path)
    assert (codec, pix, n) == ("h264", "yuv420p", 25)
    assert abs(duration - 5.0) < 0.25
    assert size == (320, 240)  # odd sizes trimmed to even for yuv420p
    head = path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)


def test_recorder_pre_and_post_roll(tmp_path: Path) -> None:
    ready: list[EvidenceReady] = []
    got = threading.Event()

    def on_ready(r: EvidenceReady) -> None:
        ready.append(r)
        got.set()

    rec = EvidenceRecorder("cam1", tmp_path, fps=5, pre_roll_s=2, post_roll_s=3, on_ready=on_ready)
    imgs = frames(60)
    for i, img in enumerate(imgs[:30]):  # 6 s of frames: ring keeps the last 2 s
        rec.add_frame(img, T0 + timedelta(seconds=i / 5))
    event_at = T0 + timedelta(seconds=29 / 5)
    rec.request_clip(event_message("event-abc-123", event_at))
    snap = rec.snapshot("event-abc-123", imgs[29])
    assert snap.ref.kind == "snapshot" and snap.path.read_bytes()[:2] == b"\xff\xd8"
    for i, img in enumerate(imgs[30:], start=30):
        rec.add_frame(img, T0 + timedelta(seconds=i / 5))
    assert got.wait(60)
    rec.close()
    clip = ready[0]
    assert clip.ref.kind == "clip" and clip.ref.content_type == "video/mp4"
    _, _, n, duration, _ = probe(clip.path)
    assert n == 11 + 15  # 2 s pre-roll (11 frames incl. the event frame) + 3 s post-roll
    assert abs(duration - n / 5) < 0.25
    assert clip.ref.duration_s == n / 5
    import hashlib

    assert hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.ref.sha256


def test_customer_heads_blurred_staff_untouched() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (400, 600, 3), dtype=np.uint8)
    original = img.copy()
    customer_zone = Zone([(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)], (600, 400))
    customer = Detection("person", 0.9, (400, 100, 500, 390))
    clerk = Detection("person", 0.9, (50, 100, 150, 390))
    blur_customer_heads(img, [customer, clerk], [customer_zone])
    head = (slice(100, 196), slice(400, 500))
    assert img[head].std() < original[head].std() * 0.5
    assert np.array_equal(img[:, :300], original[:, :300])
    assert np.array_equal(img[250:, 400:500], original[250:, 400:500])  # body below the head kept
