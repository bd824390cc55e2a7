"""Per-camera evidence recorder.

Every analysed frame enters a ring of JPEG-compressed frames covering the pre-roll (10 s at 5 fps = 50
frames of ~100 kB, a few MB per camera instead of hundreds for raw frames). Customer heads are blurred
*before* a frame enters the ring, so no unblurred customer face is ever written. An evidence request takes
the pre-roll, keeps collecting for the post-roll, then encodes the clip on a worker thread and reports an
:class:`EvidenceReady` (path, sha256) through a callback. A JPEG snapshot with the relevant boxes is
written immediately.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from broker.payloads import EvidenceRef
from edge.detect import Detection
from edge.evidence.clip import write_mp4
from edge.zones import Zone

log = logging.getLogger(__name__)

COLOURS = {"person": (0, 200, 0), "phone": (0, 0, 255), "food": (0, 140, 255), "drink": (255, 140, 0),
           "pause_sign": (255, 0, 255), "slipper": (0, 255, 255), "shoe": (200, 200, 200)}


def blur_customer_heads(image: npt.NDArray[np.uint8], people: Sequence[Detection],
                        customer_zones: Sequence[Zone]) -> None:
    """Blur (in place) the head region - the top third - of every person standing in a customer zone."""
    for person in people:
        x1, y1, x2, y2 = (int(v) for v in person.box)
        if not any(z.contains((x1 + x2) / 2, y2) or z.overlap(person.box) >= 0.5 for z in customer_zones):
            continue
        head = image[max(0, y1):max(0, y1 + (y2 - y1) // 3 + 1), max(0, x1):max(0, x2)]
        if head.size:
            k = max(3, (max(head.shape[:2]) // 3) | 1)
            head[:] = cv2.GaussianBlur(head, (k, k), 0)


def annotate(image: npt.NDArray[np.uint8], detections: Sequence[Detection], zones: Sequence[Zone] = (),
             caption: str = "") -> npt.NDArray[np.uint8]:
    out = image.copy()
    for zone in zones:
        cv2.polylines(out, [zone.pixels.astype(np.int32)], True, (255, 255, 0), 2)
    for d in detections:
        x1, y1, x2, y2 = (int(v) for v in d.box)
        colour = COLOURS.get(d.label, (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, f"{d.label} {d.score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    if caption:
        cv2.putText(out, caption, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
    return out


@dataclass(frozen=True)
class EvidenceReady:
    event_id: str
    ref: EvidenceRef
    path: Path


@dataclass
class _Pending:
    event_id: str
    evidence_id: str
    until: datetime
    frames: list[bytes] = field(default_factory=list)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EvidenceRecorder:
    def __init__(
        self,
        camera: str,
        out_dir: Path,
        *,
        fps: float,
        pre_roll_s: float,
        post_roll_s: float,
        max_width: int = 1280,
        jpeg_quality: int = 80,
        on_ready: Callable[[EvidenceReady], None],
    ) -> None:
        self.camera, self.out_dir, self.fps = camera, out_dir, fps
        self.pre_roll = timedelta(seconds=pre_roll_s)
        self.post_roll = timedelta(seconds=post_roll_s)
        self.max_width, self.quality = max_width, jpeg_quality
        self.on_ready = on_ready
        self._ring: deque[tuple[datetime, bytes]] = deque(maxlen=max(1, int(pre_roll_s * fps) + 1))
        self._pending: list[_Pending] = []
        self._jobs: queue.Queue[_Pending | None] = queue.Queue()
        self._worker = threading.Thread(target=self._encode_loop, name=f"evidence-{camera}", daemon=True)
        self._worker.start()
        out_dir.mkdir(parents=True, exist_ok=True)

    def _shrink(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        h, w = image.shape[:2]
        if w <= self.max_width:
            return image
        scale = self.max_width / w
        return cv2.resize(image, (self.max_width, round(h * scale)), interpolation=cv2.INTER_AREA)  # type: ignore[return-value]

    def _jpeg(self, image: npt.NDArray[np.uint8]) -> bytes:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def add_frame(self, image: npt.NDArray[np.uint8], at: datetime) -> None:
        """``image`` must already be privacy-blurred. Feeds the ring and every open post-roll."""
        data = self._jpeg(self._shrink(image))
        self._ring.append((at, data))
        still = []
        for pending in self._pending:
            pending.frames.append(data)
            if at >= pending.until:
                self._jobs.put(pending)
            else:
                still.append(pending)
        self._pending = still

    def snapshot(self, event_id: str, image: npt.NDArray[np.uint8]) -> EvidenceReady:
        """Write an annotated JPEG now (``image`` already annotated and blurred)."""
        data = self._jpeg(self._shrink(image))
        evidence_id = f"{event_id[:40]}-snap"
        path = self.out_dir / f"{evidence_id}.jpg"
        path.write_bytes(data)
        ref = EvidenceRef(kind="snapshot", id=evidence_id, sha256=sha256_bytes(data),
                          content_type="image/jpeg", size=len(data))
        return EvidenceReady(event_id, ref, path)

    def request_clip(self, event_id: str, at: datetime) -> None:
        horizon = at - self.pre_roll
        frames = [data for t, data in self._ring if t >= horizon]
        self._pending.append(_Pending(event_id, f"{event_id[:40]}-clip", at + self.post_roll, frames))

    def flush(self) -> None:
        """Source ended: finish every open clip with what it has."""
        for pending in self._pending:
            self._jobs.put(pending)
        self._pending = []

    def close(self, timeout: float = 60.0) -> None:
        self.flush()
        self._jobs.put(None)
        self._worker.join(timeout)

    @property
    def busy(self) -> bool:
        return bool(self._pending) or not self._jobs.empty()

    def _encode_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._encode(job)
            except Exception:
                log.exception("clip %s could not be written", job.evidence_id)

    def _encode(self, job: _Pending) -> None:
        if not job.frames:
            return
        path = self.out_dir / f"{job.evidence_id}.mp4"
        images = (cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in job.frames)
        n = write_mp4(images, path, self.fps)  # type: ignore[arg-type]
        data = path.read_bytes()
        ref = EvidenceRef(kind="clip", id=job.evidence_id, sha256=sha256_bytes(data), content_type="video/mp4",
                          size=len(data), duration_s=round(n / self.fps, 3))
        self.on_ready(EvidenceReady(job.event_id, ref, path))
