"""Frame sources: one thread per camera reading with OpenCV, sampled down to the analysis rate.

Files are timed by media time mapped onto a wall-clock start (so a replayed clip produces the same
timeline every run); live streams (RTSP, USB) by the wall clock at capture. A lost stream reconnects with
exponential backoff; the consumer learns about it through :class:`SourceStatus` items in the same queue.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from edge.settings import CameraConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str
    image: npt.NDArray[np.uint8]
    at: datetime
    index: int  # analysis frame number since start
    media_s: float | None = None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    camera: str
    at: datetime
    state: str  # "connected" | "lost" | "ended"
    detail: str = ""


Item = Frame | SourceStatus


def is_file(source: str) -> bool:
    return not (source.startswith("usb:") or "://" in source)


def open_capture(source: str, decoder_threads: int = 0) -> cv2.VideoCapture:
    """``decoder_threads``: FFmpeg's decoding threads (files and RTSP); 0 leaves FFmpeg's default."""
    if source.startswith("usb:"):
        return cv2.VideoCapture(int(source[4:]))
    params = [cv2.CAP_PROP_N_THREADS, decoder_threads] if decoder_threads else []
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    if source.startswith("rtsp://"):
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low: we want the newest frame, not a backlog
    return cap


class Backoff:
    def __init__(self, first: float = 1.0, cap: float = 30.0) -> None:
        self.first, self.cap, self.next = first, cap, first

    def delay(self) -> float:
        d, self.next = self.next, min(self.cap, self.next * 2)
        return d

    def reset(self) -> None:
        self.next = self.first


class CameraReader(threading.Thread):
    """Reads one camera into ``out``. Files block when the queue is full (nothing is skipped); live
    sources replace the oldest queued frame (analysis always works on the newest)."""

    def __init__(
        self,
        camera: CameraConfig,
        out: queue.Queue[Item],
        *,
        start_wall: datetime | None = None,
        realtime: bool | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.out = out
        self.file = is_file(camera.source)
        self.realtime = camera.realtime if realtime is None else realtime
        self.start_wall = start_wall or datetime.now(UTC)
        self.stop_event = stop or threading.Event()
        self.backoff = Backoff()
        self.frames_read = 0
        self._index = 0

    def _put(self, item: Item) -> None:
        if self.file or isinstance(item, SourceStatus):
            while not self.stop_event.is_set():
                try:
                    self.out.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        try:
            self.out.put_nowait(item)
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                self.out.get_nowait()
            self.out.put_nowait(item)

    def run(self) -> None:
        media_offset = 0.0  # accumulated media time of previous loops of a file
        while not self.stop_event.is_set():
            cap = open_capture(self.camera.source, self.camera.decoder_threads)
            if not cap.isOpened():
                cap.release()
                self._put(SourceStatus(self.camera.id, datetime.now(UTC), "lost", "cannot open source"))
                if self.file and not self.camera.loop:
                    self._put(SourceStatus(self.camera.id, datetime.now(UTC), "ended", "cannot open file"))
                    return
                self.stop_event.wait(self.backoff.delay())
                continue
            self.backoff.reset()
            self._put(SourceStatus(self.camera.id, datetime.now(UTC), "connected"))
            ended, duration = self._read(cap, media_offset)
            cap.release()
            if self.stop_event.is_set():
                return
            if self.file and ended:
                if not self.camera.loop:
                    self._put(SourceStatus(self.camera.id, self._media_at(media_offset + duration), "ended"))
                    return
                media_offset += duration
                continue
            self._put(SourceStatus(self.camera.id, datetime.now(UTC), "lost", "stream interrupted"))
            self.stop_event.wait(self.backoff.delay())

    def _media_at(self, media_s: float) -> datetime:
        return self.start_wall + timedelta(seconds=media_s)

    def _read(self, cap: cv2.VideoCapture, media_offset: float) -> tuple[bool, float]:
        """Read until the stream ends; returns (reached end of file, media seconds read)."""
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not (1.0 <= fps <= 240.0):
            fps = 25.0
        step = 1.0 / self.camera.analysis_fps
        next_t = 0.0
        n = 0
        paced_from = time.monotonic() - media_offset
        while not self.stop_event.is_set():
            if not cap.grab():  # decode only; the BGR conversion is paid for sampled frames alone
                return self.file, n / fps
            media_t = n / fps if self.file else time.monotonic()
            n += 1
            self.frames_read += 1
            if self.file:
                if media_t + 1e-6 < next_t:
                    continue
                next_t += step
                if next_t < media_t:  # file fps below analysis fps: never fall behind
                    next_t = media_t + step
            else:
                if media_t < next_t:
                    continue
                next_t = media_t + step
            ok, retrieved = cap.retrieve()
            image: npt.NDArray[np.uint8] = retrieved  # type: ignore[assignment]
            if not ok or retrieved is None:
                return self.file, n / fps
            if self.file:
                media_s = media_offset + media_t
                if self.realtime:
                    delay = paced_from + media_s - time.monotonic()
                    if delay > 0:
                        self.stop_event.wait(delay)
                frame = Frame(self.camera.id, image, self._media_at(media_s), self._index, media_s)
            else:
                frame = Frame(self.camera.id, image, datetime.now(UTC), self._index)
            self._index += 1
            self._put(frame)
        return False, n / fps
