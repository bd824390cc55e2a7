"""H.264 MP4 that plays in a browser: libx264, yuv420p, even dimensions, moov atom first (+faststart).

Clips are recorded as *fragmented* MP4 first (:class:`FragmentWriter`): a header, then one self-contained
fragment (moof + mdat, starting on a keyframe) per second, each pushed to the file as soon as it is
complete. A process killed mid-recording therefore leaves a file whose complete fragments are valid video;
:func:`remux_faststart` turns the complete part of such a file (or of a finished one) into the ordinary
faststart MP4 that is uploaded, without re-encoding.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

X264 = {"preset": "veryfast", "tune": "zerolatency", "threads": "1"}  # 1: CPU on the worker thread
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


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


class FragmentWriter:
    """Fragmented H.264 MP4 written frame by frame; a keyframe (hence a flushed fragment) every second."""

    def __init__(self, path: Path, fps: float, *, crf: int = 28) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.rate, self.crf = path, _rate(fps), crf
        self.frames = 0
        self._container = av.open(str(path), mode="w", format="mp4", options=FRAGMENTED)
        self._stream: av.VideoStream | None = None

    def add(self, image: npt.NDArray[np.uint8]) -> None:
        if self._stream is None:
            h, w = image.shape[:2]
            stream = self._container.add_stream("libx264", rate=self.rate)
            stream.pix_fmt = "yuv420p"
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.codec_context.gop_size = max(1, round(self.rate))  # fragment length: what a kill can cost
            stream.options = {"crf": str(self.crf), **X264}
            self._stream = stream
        stream = self._stream
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: stream.height, : stream.width]),
                                           format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()


def complete_prefix(data: bytes) -> int:
    """Length of the leading run of complete top-level MP4 boxes, cut before a fragment header (moof)
    whose media data did not make it: what a recording killed mid-write can be trusted up to."""
    offset = good = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1 and offset + 16 <= len(data):
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        if size < 8 or offset + size > len(data):  # size 0 ("to the end") is an unfinished box too
            break
        offset += size
        if kind != b"moof":
            good = offset
    return good


def remux_faststart(src: Path, dst: Path) -> int:
    """Copy the complete video of a (possibly truncated) fragmented MP4 into a faststart MP4 at ``dst``,
    written under a temporary name first. Returns the number of frames; raises :class:`ClipError` when
    there is none."""
    data = src.read_bytes()
    usable = data[:complete_prefix(data)]
    tmp = dst.with_suffix(".part.mp4")
    n = 0
    try:
        with av.open(io.BytesIO(usable), mode="r", format="mp4") as source:
            if not source.streams.video:
                raise ClipError(f"{src.name}: no video stream")
            video = source.streams.video[0]
            packets = [p for p in source.demux(video) if p.dts is not None]
            if not packets:
                raise ClipError(f"{src.name}: no complete fragment ({len(data)} bytes on disk)")
            with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
                stream = out.add_stream_from_template(video)
                for packet in packets:
                    packet.stream = stream
                    out.mux(packet)
                    n += 1
    except av.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise ClipError(f"{src.name}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dst)
    return n
