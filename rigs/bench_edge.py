"""``counterwatch bench edge``: how many cameras one core of this box carries.

N simulated cameras replay the same real video through the real per-camera pipeline (window crops ->
ONNX detector -> zones/sign/behaviours -> rules -> evidence encoding) in one thread, so the CPU time
measured is one core's. Decoding is timed separately (each camera decodes its own stream in
production). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from common.config import load_settings
from edge.detect import DetectorHolder
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.settings import EdgeSettings
from edge.sources import Frame

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "config/office-cctv.yaml"


def decode_sampled(path: str, fps: float, limit: int) -> tuple[list[npt.NDArray[np.uint8]], float]:
    """Frames sampled to the analysis rate, and the CPU seconds spent decoding per kept frame."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"cannot open video {path}")
    step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or fps) / fps))
    frames: list[npt.NDArray[np.uint8]] = []
    started = time.process_time()
    index = 0
    while len(frames) < limit:
        ok = cap.grab()
        if not ok:
            break
        if index % step == 0:
            ok, image = cap.retrieve()
            if ok:
                frames.append(np.asarray(image, dtype=np.uint8))
        index += 1
    cap.release()
    if not frames:
        raise SystemExit(f"no frames decoded from {path}")
    # grab() of skipped frames is part of the cost of sampling a stream, so it is included.
    return frames, (time.process_time() - started) / len(frames)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(EdgeSettings, args.config)
    camera = settings.cameras[0]
    video = args.video or camera.source
    if not Path(video).is_absolute() and not Path(video).exists():
        video = str((Path(args.config).parent / video).resolve()) if Path(args.config).parent else video
    overrides: dict[str, Any] = {}
    if args.imgsz:
        overrides["detector"] = settings.detector.model_copy(update={"imgsz": args.imgsz})
    with tempfile.TemporaryDirectory() as tmp:
        overrides["evidence"] = settings.evidence.model_copy(update={"dir": Path(tmp)})
        settings = settings.model_copy(update=overrides)
        frames, decode_s = decode_sampled(video, camera.analysis_fps, args.frames)
        holder = DetectorHolder(load_detector(settings))
        emitted: list[object] = []
        pipelines = [
            CameraPipeline(camera.model_copy(update={"id": f"sim{i}"}), settings, holder, emitted.append,
                           on_evidence=lambda ready: None)
            for i in range(args.cameras)
        ]
        start_at = datetime.now(UTC)
        period = timedelta(seconds=1 / camera.analysis_fps)
        # Warm-up: the first frame sets up zones and onnxruntime's buffers.
        for p in pipelines:
            p.process(Frame(p.camera.id, frames[0], start_at, 0))
            p.timer = type(p.timer)()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        processed = 0
        for n, image in enumerate(frames[1:], start=1):
            for p in pipelines:
                p.process(Frame(p.camera.id, image, start_at + n * period, n))
                processed += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        for p in pipelines:
            p.finish(start_at + len(frames) * period)
            if p.recorder is not None:  # let clip encoding end before the temp dir and the process go
                p.recorder.close()

    per_frame_s = cpu / processed + decode_s
    stages: dict[str, float] = {"decode": round(decode_s * 1000, 2)}
    for p in pipelines:
        for name, ms in p.timer.ms_per_frame(len(frames) - 1).items():
            stages[name] = stages.get(name, 0.0) + ms / len(pipelines)
    stages = {k: round(v, 2) for k, v in stages.items()}
    stages["other"] = round(per_frame_s * 1000 - sum(stages.values()), 2)
    result: dict[str, Any] = {
        "video": video,
        "model": holder.current.version,
        "detector_imgsz": settings.detector.imgsz or "model default",
        "cameras": args.cameras,
        "windows_per_camera": len(camera.windows),
        "frames_per_camera": len(frames) - 1,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "frames_per_s_per_core": round(1 / per_frame_s, 2),
        "cameras_per_core_at_5fps": round(1 / per_frame_s / 5, 2),
        "ms_per_frame": round(per_frame_s * 1000, 2),
        "ms_per_stage": stages,
        "note": "inference includes cropping and letterbox; there is no tracker stage (presence uses zones)",
        "messages_emitted": len(emitted),
    }
    if args.compare_ultralytics:
        result["ultralytics"] = compare_ultralytics(pipelines[0], frames, settings)
    print(json.dumps(result, indent=2 if args.json else None, ensure_ascii=False))
    return 0


def compare_ultralytics(pipeline: CameraPipeline, frames: list[npt.NDArray[np.uint8]],
                        settings: EdgeSettings) -> dict[str, Any]:
    """The same crops through Ultralytics' own predict (train extra only), to compare inference cost."""
    try:
        from ultralytics import YOLO  # only with the train extra; never imported by the runtime
    except ImportError:
        return {"error": "ultralytics is not installed (pip install '.[train]')"}
    detector = pipeline.detector.current
    rects = [wa.crop for wa in pipeline.windows]
    crops = [f[y1:y2, x1:x2] for f in frames[1:] for (x1, y1, x2, y2) in rects]
    model = YOLO(str(detector.path), task="detect")
    size = list(detector.imgsz)
    model.predict(crops[:2], imgsz=size, verbose=False)  # warm-up
    t0 = time.process_time()
    for crop in crops:
        model.predict(crop, imgsz=size, conf=settings.detector.confidence, verbose=False)
    ours0 = time.process_time()
    for f in frames[1:]:
        detector.detect_crops(f, rects)
    ours = time.process_time() - ours0
    theirs = ours0 - t0
    return {"crops": len(crops), "ultralytics_ms_per_crop": round(theirs / len(crops) * 1000, 2),
            "counterwatch_ms_per_crop": round(ours / len(crops) * 1000, 2),
            "ratio_ultralytics_over_counterwatch": round(theirs / ours, 2) if ours else None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="edge config whose first camera is replayed")
    parser.add_argument("--video", help="video to replay (default: the config's first camera source)")
    parser.add_argument("--cameras", type=int, default=4, help="simulated cameras")
    parser.add_argument("--frames", type=int, default=40, help="analysis frames per camera")
    parser.add_argument("--imgsz", type=int, help="override the detector input size")
    parser.add_argument("--json", action="store_true", help="pretty-print the JSON")
    parser.add_argument("--compare-ultralytics", action="store_true",
                        help="also run the crops through Ultralytics predict (needs the train extra)")
