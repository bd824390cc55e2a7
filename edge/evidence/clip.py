"""H.264 MP4 that plays in a browser: libx264, yuv420p, even dimensions, moov atom first (+faststart)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


def write_mp4(frames: Iterable[npt.NDArray[np.uint8]], path: Path, fps: float, *, crf: int = 28) -> int:
    """Encode BGR frames at a constant ``fps``; returns the number of frames written."""
    rate = Fraction(fps).limit_denominator(1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    n = 0
    with av.open(str(tmp), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
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
