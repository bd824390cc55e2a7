"""Per-camera evidence recorder.

Every analysed frame enters a ring of JPEG-compressed frames covering the pre-roll (10 s at 5 fps = 50
frames of ~100 kB, a few MB per camera instead of hundreds for raw frames). Customer heads are blurred
*before* a frame enters the ring, so no unblurred customer face is ever written. An evidence request takes
the pre-roll, keeps collecting for the post-roll, and a worker thread records it as it comes into a
frame log in the spool (durable job record first, see :mod:`edge.evidence.spool`); when the post-roll is
over the recording is encoded into the uploadable faststart MP4 on the node's one encoder thread and
reported as an :class:`EvidenceReady` (path, sha256) through a callback. A JPEG snapshot with the relevant
boxes is written immediately.

Events of one camera sent on the same frame (several windows crossing a threshold together, an
unattended and an absence alert of one desk) want the very same seconds of video: the first one's
recording is logged and encoded once and the others' spool files are hard links to it, so a kill
mid-recording leaves each of them the same recoverable frames (:mod:`edge.evidence.spool`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from broker.payloads import EventMessage, EvidenceRef
from edge.detect import Detection
from edge.evidence.clip import FrameLog
from edge.evidence.spool import ClipJob, ClipSpool, EvidenceReady, finalise
from edge.memory import release_free_memory
from edge.zones import Zone

log = logging.getLogger(__name__)

# One H.264 encode at a time for the whole node: an open x264 encoder is the largest thing a clip costs
# (~24 MB at 1280x720), and a recording needs none until it is over (edge.evidence.clip.FrameLog). The
# thread's name starts with "evidence-", as the recorders' do: the edge bench counts them as clip CPU.
_ENCODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-encode")

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


@dataclass
class _Pending:
    job: ClipJob
    until: datetime


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
        self.spool = ClipSpool(out_dir / "spool")
        self._ring: deque[tuple[datetime, bytes]] = deque(maxlen=max(1, int(pre_roll_s * fps) + 1))
        self._pending: list[_Pending] = []
        # (job, JPEG frame) to record, (job, None) when its post-roll is over, (job, twin job) when the twin
        # is the same recording, None to stop the worker.
        self._work: queue.Queue[tuple[ClipJob, bytes | ClipJob | None] | None] = queue.Queue()
        self._open: set[str] = set()  # clips requested and not yet handed over (or failed)
        self._encodes: list[Future[None]] = []  # this camera's clips on the node's encoder
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._record_loop, name=f"evidence-{camera}", daemon=True)
        self._worker.start()

    def snapshot_scale(self, width: int) -> float:
        """Frame pixels -> snapshot pixels (snapshots and clips are shrunk to ``max_width``)."""
        return min(1.0, self.max_width / width)

    def _shrink(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        h, w = image.shape[:2]
        if w <= self.max_width:
            return image
        scale = self.max_width / w
        # Area averaging only where it matters (shrinking to half or less, where bilinear would alias): at
        # a fractional ratio such as 1600 -> 1280 OpenCV's INTER_AREA takes its slow general path, ~5x the
        # CPU of bilinear, for a difference no one sees in an evidence frame.
        interpolation = cv2.INTER_AREA if scale <= 0.5 else cv2.INTER_LINEAR
        return cv2.resize(image, (self.max_width, round(h * scale)), interpolation=interpolation)  # type: ignore[return-value]

    def _jpeg(self, image: npt.NDArray[np.uint8]) -> bytes:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    @property
    def has_frames(self) -> bool:
        return bool(self._ring)

    def add_frame(self, image: npt.NDArray[np.uint8], at: datetime) -> None:
        """``image`` must already be privacy-blurred. Feeds the ring and every open post-roll."""
        self._add(at, self._jpeg(self._shrink(image)))

    def repeat_frame(self, at: datetime) -> None:
        """The picture at ``at`` is the last one added (a static scene): its JPEG again, no encode, and the
        ring holds one more reference to the same bytes, not another copy."""
        if not self._ring:
            raise RuntimeError("repeat_frame before any add_frame")
        self._add(at, self._ring[-1][1])

    def _add(self, at: datetime, data: bytes) -> None:
        self._ring.append((at, data))
        still = []
        for pending in self._pending:
            self._work.put((pending.job, data))
            if at >= pending.until:
                self._work.put((pending.job, None))
            else:
                still.append(pending)
        self._pending = still

    def snapshot(self, event_id: str, image: npt.NDArray[np.uint8]) -> EvidenceReady:
        """Write an annotated JPEG now (``image`` already annotated and blurred)."""
        data = self._jpeg(self._shrink(image))
        evidence_id = f"{event_id[:40]}-snap"
        path = self.out_dir / f"{evidence_id}.jpg"
        tmp = path.with_suffix(".part.jpg")
        tmp.write_bytes(data)
        tmp.replace(path)
        ref = EvidenceRef(kind="snapshot", id=evidence_id, sha256=sha256_bytes(data),
                          content_type="image/jpeg", size=len(data))
        return EvidenceReady(event_id, ref, path)

    def request_clip(self, event: EventMessage) -> None:
        """Record a clip for ``event`` (its start message, as sent): the pre-roll now, the post-roll as
        frames come. The job record is durable before this returns (see :mod:`edge.evidence.spool`)."""
        job = ClipJob(evidence_id=f"{event.event_id[:40]}-clip", event=event, fps=self.fps,
                      created_at=datetime.now(UTC))
        self.spool.save(job)
        with self._lock:
            self._open.add(job.evidence_id)
        same = next((p for p in self._pending if p.job.event.sent_at == event.sent_at), None)
        if same is not None:  # the same seconds of video as a clip being recorded: share its recording
            self._work.put((same.job, job))
            return
        horizon = event.sent_at - self.pre_roll
        for t, data in self._ring:
            if t >= horizon:
                self._work.put((job, data))
        self._pending.append(_Pending(job, event.sent_at + self.post_roll))

    def release(self, job: ClipJob) -> None:
        """The clip is in the outbox and an event message carrying it too: forget its spool job."""
        self.spool.release(job)

    def flush(self) -> None:
        """Source ended: finish every open clip with what it has."""
        for pending in self._pending:
            self._work.put((pending.job, None))
        self._pending = []

    def close(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        self.flush()
        self._work.put(None)
        self._worker.join(timeout)
        with self._lock:
            encodes = list(self._encodes)
        wait(encodes, max(0.0, deadline - time.monotonic()))

    @property
    def busy(self) -> bool:
        """Clips requested and not handed over yet (recording, encoding or finishing)."""
        with self._lock:
            return bool(self._open)

    def _link(self, job: ClipJob, twin: ClipJob) -> None:
        """The twin's recording is the job's (one inode, two names): a kill leaves both the same frames."""
        target = self.spool.frame_log(twin)
        target.unlink(missing_ok=True)
        os.link(self.spool.frame_log(job), target)

    def _handed_over(self, jobs: Sequence[ClipJob]) -> None:
        with self._lock:
            self._open.difference_update(each.evidence_id for each in jobs)

    def _record_loop(self) -> None:
        logs: dict[str, FrameLog | None] = {}  # None: that clip failed; its frames are skipped
        twins: dict[str, list[ClipJob]] = {}  # recording evidence id -> the clips that share it
        while (item := self._work.get()) is not None:
            job, data = item
            key = job.evidence_id
            done = [job] if data is None else []
            encoding = False
            try:
                if isinstance(data, ClipJob):
                    twins.setdefault(key, []).append(data)
                    if logs.get(key) is not None:  # recording already: link now (else when it opens)
                        self._link(job, data)
                    continue
                if data is not None:
                    if key not in logs:
                        logs[key] = None  # a log that cannot even be opened fails the clip once
                        logs[key] = FrameLog(self.spool.frame_log(job))
                        for twin in twins.get(key, []):
                            self._link(job, twin)
                    frame_log = logs[key]
                    if frame_log is not None:
                        frame_log.add(data)
                    continue
                done += twins.pop(key, [])
                if key not in logs:  # not one frame (the source ended at once): nothing to keep
                    for each in done:
                        log.warning("clip %s: no frames to record; event %s has no clip", each.evidence_id,
                                    each.event.event_id)
                        self.spool.release(each)
                    continue
                frame_log = logs.pop(key)
                if frame_log is None:
                    log.error("clip %s: recording failed; its job stays in the spool for recovery", key)
                    continue
                frame_log.close()
                for each in done:
                    each.recorded = True
                    self.spool.save(each)
                with self._lock:
                    self._encodes = [f for f in self._encodes if not f.done()]
                    self._encodes.append(_ENCODER.submit(self._encode, done))
                encoding = True
            except Exception:
                log.exception("clip %s could not be written; its job stays in the spool for recovery", key)
                if isinstance(data, bytes):  # a frame could not be logged (disk full?): the clip stops here
                    broken, logs[key] = logs.get(key), None
                    if broken is not None:
                        with contextlib.suppress(OSError):  # what it holds stays: recovery makes it a truncated clip
                            broken.close()
            finally:
                if done and not encoding:
                    self._handed_over(done)

    def _encode(self, done: list[ClipJob]) -> None:
        """On the node's encoder thread: one H.264 encode of the recording, shared by its twins."""
        try:
            first = finalise(done[0], self.spool, self.out_dir)
            self.on_ready(first)
            for twin in done[1:]:
                self.on_ready(finalise(twin, self.spool, self.out_dir, same_as=first))
        except Exception:
            log.exception("clip %s could not be encoded; its job stays in the spool for recovery",
                          done[0].evidence_id)
        finally:
            release_free_memory()
            self._handed_over(done)
