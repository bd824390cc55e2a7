"""H.264 MP4 that plays in a browser: libx264, yuv420p, even dimensions, moov atom first (+faststart).

Clips are recorded as a *frame log* first (:class:`FrameLog`): the evidence JPEGs appended to a spool file
as they come, each complete record on disk before the next frame. A process killed mid-recording
therefore leaves every frame it had; :func:`encode_frame_log` turns the complete part of such a log (or of
a finished one) into the ordinary faststart MP4 that is uploaded.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np
import numpy.typing as npt

X264 = {"preset": "veryfast", "tune": "zerolatency", "threads": "1"}  # 1: CPU on the encoding thread
MAX_FRAME_BYTES = 32 << 20  # a frame-log record claiming more is damage, not a JPEG


class ClipError(Exception):
    """A recording holds no playable video."""


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1000)


def write_mp4(frames: Iterable[npt.NDArray[np.uint8]], path: Path, fps: float, *, crf: int = 28) -> int:
    """Encode BGR frames at a constant ``fps``; returns the number of frames written."""
    rate = _rate(fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    n = 0
    with av.open(str(tmp), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), **X264}
        for image in frames:
            h, w = image.shape[:2]
            if n == 0:
                stream.width, stream.height = w - w % 2, h - h % 2
            frame = av.VideoFrame.from_ndarray(image[: stream.height, : stream.width], format="bgr24")
            frame.pts = n
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)  # never leave a half-written clip under the final name
    return n


class FrameLog:
    """A clip being recorded: its frames appended to the spool as they come, as the JPEGs they already are.

    Each record is a 4-byte big-endian length and one JPEG, handed to the OS as soon as it is written, so a
    process killed mid-recording leaves every frame but possibly the last. No encoder is open while a clip
    records (an x264 encoder at 1280x720 holds ~24 MB, and demo thresholds keep several clips of a camera
    open at once); the H.264 encode happens once, when the recording is over (:func:`encode_frame_log`).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")

    def add(self, jpeg: bytes) -> None:
        self._file.write(struct.pack(">I", len(jpeg)) + jpeg)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def logged_frames(log: BinaryIO) -> Iterator[bytes]:
    """The complete JPEG records of a frame log, in order, read one at a time: a record cut by a kill, and
    anything after a record that is not a JPEG, is not trusted."""
    while len(head := log.read(4)) == 4:
        (size,) = struct.unpack(">I", head)
        if not 4 <= size <= MAX_FRAME_BYTES:
            return
        record = log.read(size)
        if len(record) < size or not (record.startswith(b"\xff\xd8") and record.endswith(b"\xff\xd9")):
            return
        yield record


def _decoded(records: Iterable[bytes]) -> Iterator[npt.NDArray[np.uint8]]:
    size: tuple[int, int] | None = None
    for record in records:
        image = cv2.imdecode(np.frombuffer(record, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            continue  # a damaged frame costs that frame, not the clip
        h, w = image.shape[:2]
        if size is None:
            size = (w, h)
        elif (w, h) != size:  # the camera changed resolution mid-clip: one stream has one size
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        yield image  # type: ignore[misc]


def encode_frame_log(src: Path, dst: Path, fps: float) -> int:
    """The complete frames of a (possibly cut-short) frame log -> the faststart MP4 at ``dst``, written
    under a temporary name first. Returns the number of frames; raises :class:`ClipError` when there is
    none to encode."""
    with src.open("rb") as log:
        images = _decoded(logged_frames(log))  # a frame at a time: a clip is never whole in memory
        first = next(images, None)
        if first is None:
            raise ClipError(f"{src.name}: no complete frame that decodes ({src.stat().st_size} bytes on disk)")
        try:
            return write_mp4(itertools.chain([first], images), dst, fps)
        except av.FFmpegError as exc:
            raise ClipError(f"{src.name}: {exc}") from exc
        finally:
            dst.with_suffix(".part.mp4").unlink(missing_ok=True)  # there only when the encode failed
