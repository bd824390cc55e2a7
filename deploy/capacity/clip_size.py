"""Size of a real evidence clip, for the storage line of the capacity plan (docs/scale-out.md).

Makes a clip the way the edge does (``edge/evidence``): frames sampled at the analysis rate, downscaled to
``evidence.max_width``, kept as JPEG in the pre-roll ring, encoded by ``edge.evidence.clip.write_mp4``
(libx264, CRF 28, veryfast, +faststart) for pre-roll + post-roll seconds, looping the source if it is
shorter. Prints JSON: bytes, bitrate, clips per TB. From the repository root::

    .venv/bin/python deploy/capacity/clip_size.py ../shared/datasets/office-cctv-clip/office_cctv_cam5.mov
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.evidence.clip import write_mp4
from edge.settings import CameraConfig, EvidenceSettings

TB = 10**12
Image = npt.NDArray[np.uint8]


def edge_frames(video: Path, fps: float, seconds: float, max_width: int, jpeg_quality: int) -> Iterator[Image]:
    """``seconds * fps`` frames as the recorder holds them: resampled, downscaled, JPEG round-tripped."""
    wanted = round(seconds * fps)
    produced = 0
    while produced < wanted:
        capture = cv2.VideoCapture(str(video))
        step = (capture.get(cv2.CAP_PROP_FPS) or 25.0) / fps
        index, next_pick = 0, 0.0
        while produced < wanted:
            ok, image = capture.read()
            if not ok:
                break
            index += 1
            if index - 1 + 1e-9 < next_pick:
                continue
            next_pick += step
            h, w = image.shape[:2]
            if w > max_width:
                image = cv2.resize(image, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
            _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            yield np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)
            produced += 1
        capture.release()
        if index == 0:
            raise SystemExit(f"{video}: no frames")


def main() -> None:
    evidence = EvidenceSettings()
    analysis_fps = CameraConfig.model_fields["analysis_fps"].default
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--seconds", type=float, default=evidence.pre_roll_s + evidence.post_roll_s)
    parser.add_argument("--fps", type=float, default=analysis_fps, help="the camera's analysis_fps")
    parser.add_argument("--max-width", type=int, default=evidence.max_width)
    parser.add_argument("--jpeg-quality", type=int, default=evidence.jpeg_quality)
    parser.add_argument("--crf", type=int, default=28, help="edge.evidence.clip.write_mp4's default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        frames = write_mp4(edge_frames(args.video, args.fps, args.seconds, args.max_width, args.jpeg_quality),
                           clip, args.fps, crf=args.crf)
        size = clip.stat().st_size
    print(json.dumps({
        "video": args.video.name, "seconds": args.seconds, "fps": args.fps, "max_width": args.max_width,
        "frames": frames, "crf": args.crf, "bytes": size, "kbit_per_s": round(size * 8 / args.seconds / 1000, 1),
        "clips_per_tb": int(TB // size),
    }))


if __name__ == "__main__":
    main()
