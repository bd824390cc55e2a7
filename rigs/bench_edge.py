"""``counterwatch bench edge``: how many cameras one core of this box carries.

N simulated cameras replay the same real video through the real per-camera pipeline (change gate ->
batched ONNX detector on the window crops that need it -> zones/sign/behaviours -> rules -> evidence) in
one thread, with synthetic timestamps at the analysis rate. Two passes over the same frames: at the
rules' rates (the gate decides, edge/schedule.py) and at a forced full rate (every window, every frame).

The accounting is in CPU seconds and adds up: every stage is thread CPU time of the analysis thread
(edge/pipeline.py StageTimer, ``pipeline_other`` = the rest of a frame), ``clip_encoding`` is the evidence
worker threads' CPU, ``other`` is whatever else the process spent (native library threads, the replay
loop), and decode is timed on its own (each camera decodes its own stream in production). Decode is given
twice: of the file as it is (all frames of its stream decoded) and of the same frames re-encoded at the
analysis rate, which is what a camera whose stream is set to the analysis rate (a sub-stream) costs.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from common.config import load_settings
from edge.detect import DetectorHolder
from edge.evidence import EvidenceReady
from edge.memory import tune_allocator
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.settings import CameraConfig, EdgeSettings
from edge.sources import Frame, open_capture

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "config/office-cctv.yaml"
TRAIN_PYTHON = ROOT / ".venv-train/bin/python"
Image = npt.NDArray[np.uint8]


# -- decoding ---------------------------------------------------------------------------------------------


def decode_sampled(path: str, fps: float, limit: int) -> tuple[list[Image], float, int]:
    """Frames sampled to the analysis rate, the CPU seconds spent decoding per kept frame (the grabs of
    skipped frames included: they are part of sampling a stream) and the sampling step."""
    cap = open_capture(path, decoder_threads=1)  # as a node's camera reader decodes
    if not cap.isOpened():
        raise SystemExit(f"cannot open video {path}")
    step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or fps) / fps))
    frames: list[Image] = []
    started = time.process_time()
    index = 0
    while len(frames) < limit:
        if not cap.grab():
            break
        if index % step == 0:
            ok, image = cap.retrieve()
            if ok:
                frames.append(np.asarray(image, dtype=np.uint8))
        index += 1
    cap.release()
    if not frames:
        raise SystemExit(f"no frames decoded from {path}")
    return frames, (time.process_time() - started) / len(frames), step


def decode_at_rate(frames: list[Image], fps: float, tmp: Path) -> float:
    """CPU seconds per frame to decode ``frames`` from an H.264 stream at the analysis rate (a camera whose
    stream is set to that rate). The frames are re-encoded once, then decoded and converted to BGR."""
    path = tmp / "at-analysis-rate.mp4"
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(round(fps * 2))}  # a keyframe every 2 s, as cameras do
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: h - h % 2, : w - w % 2]), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    started = time.process_time()
    n = 0
    with av.open(str(path)) as source:
        vstream = source.streams.video[0]
        vstream.thread_type = "AUTO"
        for frame in source.decode(vstream):
            frame.to_ndarray(format="bgr24")
            n += 1
    return (time.process_time() - started) / max(1, n)


# -- CPU of threads ---------------------------------------------------------------------------------------


def thread_cpu(prefix: str) -> float:
    """CPU seconds so far of the live Python threads whose name starts with ``prefix``."""
    total = 0.0
    for t in threading.enumerate():
        if t.name.startswith(prefix) and t.ident is not None and t.is_alive():
            try:
                total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
            except (OSError, ProcessLookupError):
                continue
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Start the kernel's peak-RSS mark (VmHWM) afresh, so that what follows is measured without the
    bench's own decoding and re-encoding before it (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- one pass ---------------------------------------------------------------------------------------------


def replay(settings: EdgeSettings, camera: CameraConfig, holder: DetectorHolder, frames: list[Image],
           cameras: int, *, forced: bool) -> dict[str, Any]:
    """All frames through ``cameras`` pipelines; CPU per camera-frame by stage, gate statistics, output."""
    emitted: list[object] = []
    evidence: list[EvidenceReady] = []
    pipelines = [CameraPipeline(camera.model_copy(update={"id": f"sim{i}"}), settings, holder, emitted.append,
                                on_evidence=evidence.append) for i in range(cameras)]
    start_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    period = timedelta(seconds=1 / camera.analysis_fps)
    for p in pipelines:  # warm-up: zones, onnxruntime's buffers, the first (ungated) pass of every window
        p.process(Frame(p.camera.id, frames[0], start_at, 0), forced=forced)
        p.timer = type(p.timer)()
        for gate in p.gates:
            gate.schedule.passes.clear()
    cpu0, clips0, wall0 = time.process_time(), thread_cpu("evidence-"), time.perf_counter()
    for n, image in enumerate(frames[1:], start=1):
        for p in pipelines:
            p.process(Frame(p.camera.id, image, start_at + n * period, n), forced=forced)
    for p in pipelines:
        p.finish(start_at + len(frames) * period)
    deadline = time.monotonic() + 120  # clips of the events are part of the cost: let them encode
    while any(p.recorder is not None and p.recorder.busy for p in pipelines) and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu, clips_cpu, wall = time.process_time() - cpu0, thread_cpu("evidence-") - clips0, time.perf_counter() - wall0
    for p in pipelines:
        if p.recorder is not None:
            p.recorder.close()

    camera_frames = (len(frames) - 1) * cameras
    stages: dict[str, float] = defaultdict(float)
    analysis_s = 0.0
    passes: Counter[str] = Counter()
    for p in pipelines:
        analysis_s += p.timer.frame_s
        for name, ms in p.timer.ms_per_frame(camera_frames).items():
            stages[name] += ms
        for gate in p.gates:
            passes.update(gate.schedule.passes)
    stages["clip_encoding"] = clips_cpu * 1000 / camera_frames
    stages["other"] = (cpu - analysis_s - clips_cpu) * 1000 / camera_frames
    window_frames = sum(passes.values())
    states = [m for m in emitted if type(m).__name__ == "StateMessage"]
    events = [m for m in emitted if type(m).__name__ == "EventMessage"]
    clips = [r.ref for r in evidence if r.ref.kind == "clip"]
    recordings = len({(r.path.parent, r.ref.sha256) for r in evidence if r.ref.kind == "clip"})
    return {
        "ms_per_stage": {k: round(v, 3) for k, v in stages.items()},
        "ms_per_frame": round(cpu * 1000 / camera_frames, 3),
        # Clips are a cost per event, not per frame: this replay's short demo thresholds start an event or
        # two per window within seconds, far more than a hall does. The steady figure leaves them out.
        "ms_per_frame_without_clips": round((cpu - clips_cpu) * 1000 / camera_frames, 3),
        "clips": len(clips), "clip_recordings_encoded": recordings,
        "clip_encoding_cpu_s_per_recording": round(clips_cpu / max(1, recordings), 3),
        "wall_s": round(wall, 3),
        "window_frames": window_frames,
        "detector_passes": dict(sorted(passes.items())),
        "gated_out_fraction": round(passes["held"] / max(1, window_frames), 4),
        "messages_emitted": len(emitted),
        "outcome": outcome(pipelines[0].camera.id, states, events),
    }


def outcome(camera: str, states: list[Any], events: list[Any]) -> dict[str, Any]:
    """What the first camera concluded, to hold the gated pass against the forced one."""
    first = [m for m in states + events if m.camera == camera]
    presence: dict[str, list[tuple[float, bool]]] = {}
    t0: datetime | None = None
    for m in sorted((m for m in first if type(m).__name__ == "StateMessage"), key=lambda m: m.at):
        t0 = t0 or m.at
        track = presence.setdefault(m.window, [])
        if not track or track[-1][1] != m.present:
            track.append((round((m.at - t0).total_seconds(), 1), m.present))
    starts = sorted((m.window, m.rule.value, round((m.started_at - (t0 or m.started_at)).total_seconds(), 1))
                    for m in first if type(m).__name__ == "EventMessage" and m.phase.value == "start")
    return {"presence_changes": presence, "event_starts": [list(s) for s in starts]}


def presence_shift(gated: dict[str, Any], full: dict[str, Any]) -> float | None:
    """Largest time difference between matching presence changes of the two passes (None: they differ in
    which changes there are). The gate looks at a change at the presence rate, so it may see it later."""
    a, b = gated["presence_changes"], full["presence_changes"]
    if a.keys() != b.keys() or any([p for _, p in a[w]] != [p for _, p in b[w]] for w in a):
        return None
    return round(max((abs(x[0] - y[0]) for w in a for x, y in zip(a[w], b[w], strict=True)), default=0.0), 2)


# -- the bench --------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, cameras: int) -> dict[str, Any]:
    settings = load_settings(EdgeSettings, args.config)
    camera = settings.cameras[0]
    video = args.video or camera.source
    if not Path(video).is_absolute() and not Path(video).exists():
        video = str((Path(args.config).parent / video).resolve())
    overrides: dict[str, Any] = {}
    if args.imgsz or args.crop_upscale or args.precision:
        overrides["detector"] = settings.detector.model_copy(update={
            "imgsz": args.imgsz or settings.detector.imgsz,
            "crop_upscale": args.crop_upscale or settings.detector.crop_upscale,
            "precision": args.precision or settings.detector.precision})
    rss0 = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        overrides["evidence"] = settings.evidence.model_copy(update={"dir": Path(tmp) / "evidence"})
        settings = settings.model_copy(update=overrides)
        frames, decode_file_s, step = decode_sampled(video, camera.analysis_fps, args.frames)
        decode_rate_s = decode_at_rate(frames, camera.analysis_fps, Path(tmp))
        replay_mb = sum(f.nbytes for f in frames) / 2**20
        node_only = reset_peak_rss()
        holder = DetectorHolder(load_detector(settings))
        passes = {"rules": replay(settings, camera, holder, frames, cameras, forced=False)}
        if not args.no_forced:
            passes["forced"] = replay(settings, camera, holder, frames, cameras, forced=True)
    fps = camera.analysis_fps
    decode = {"file": decode_file_s * 1000, "analysis_rate": decode_rate_s * 1000}
    result: dict[str, Any] = {
        "video": video,
        "frame_size": list(frames[0].shape[1::-1]),
        "model": holder.current.version,
        "model_file": holder.current.path.name,
        "detector_imgsz": settings.detector.imgsz or "model default",
        "detector_crop_upscale": settings.detector.crop_upscale,
        "cameras": cameras,
        "windows_per_camera": len(camera.windows),
        "frames_per_camera": len(frames) - 1,
        "analysis_fps": fps,
        "source_frames_decoded_per_analysis_frame": step,
        "decode_ms_per_frame": {k: round(v, 2) for k, v in decode.items()},
        "loadavg": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    for name, p in passes.items():
        for source, decode_ms in decode.items():
            per_frame = p["ms_per_frame"] + decode_ms
            p[f"cameras_per_core_decoding_{source}"] = round(1000 / per_frame / fps, 2)
            p[f"frames_per_s_per_core_decoding_{source}"] = round(1000 / per_frame, 2)
        p["cameras_per_core_without_clips"] = round(
            1000 / (p["ms_per_frame_without_clips"] + decode["analysis_rate"]) / fps, 2)
        result[name] = p
    # Headline figures: decoding at the analysis rate (a camera stream set to it, as a detect sub-stream is).
    result["cameras_per_core_at_rules_rates"] = passes["rules"]["cameras_per_core_decoding_analysis_rate"]
    result["cameras_per_core_at_rules_rates_without_clips"] = passes["rules"]["cameras_per_core_without_clips"]
    if "forced" in passes:
        result["cameras_per_core_at_5fps"] = passes["forced"]["cameras_per_core_decoding_analysis_rate"]
        result["cameras_per_core_at_5fps_without_clips"] = passes["forced"]["cameras_per_core_without_clips"]
        gated, full = passes["rules"]["outcome"], passes["forced"]["outcome"]
        result["gated_matches_forced"] = gated == full
        result["gated_event_starts_match_forced"] = gated["event_starts"] == full["event_starts"]
        result["gated_presence_change_max_shift_s"] = presence_shift(gated, full)
    # Back-compat keys (forced pass when there is one: the figure they always meant).
    ref = passes.get("forced", passes["rules"])
    result["ms_per_frame"] = round(ref["ms_per_frame"] + decode["file"], 2)
    result["frames_per_s_per_core"] = ref["frames_per_s_per_core_decoding_file"]
    result["ms_per_stage"] = {"decode": round(decode["file"], 2), **ref["ms_per_stage"]}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["replay_buffer_mb"] = round(replay_mb, 1)
    result["peak_rss_mb_without_replay_buffer"] = round(peak_rss_mb() - replay_mb, 1)
    result["rss_before_mb"] = round(rss0, 1)
    # Models, pipelines and clip recording alone: the peak since the frames were decoded, less their buffer
    # (a node's camera readers are measured by --realtime, which runs the node itself).
    result["pipelines_peak_rss_mb"] = round(vm_kb("VmHWM") / 1024 - replay_mb, 1) if node_only else None
    if args.peer == "ultralytics":
        result["peer"] = peer_ultralytics(args, video, holder, camera, settings, step, len(frames) - 1, result)
    return result


def peer_ultralytics(args: argparse.Namespace, video: str, holder: DetectorHolder, camera: CameraConfig,
                     settings: EdgeSettings, step: int, frames: int, ours: dict[str, Any]) -> dict[str, Any]:
    """Ultralytics' predict doing the same job on the same frames and model, in a subprocess of the
    training venv (the runtime never imports ultralytics). Ratios are of frames per second per core."""
    python = Path(args.peer_python) if args.peer_python else TRAIN_PYTHON
    if not python.exists():
        return {"error": f"no training venv python at {python} (install the train extra)"}
    detector = holder.current
    w, h = ours["frame_size"]
    probe = CameraPipeline(camera, settings, holder, lambda m: None)
    probe._setup((w, h))
    rects = [list(wa.crop) for wa in probe.windows]
    cmd = [str(python), str(ROOT / "rigs/bench_edge_peer.py"), "--model", str(Path(detector.path).resolve()),
           "--video", str(Path(video).resolve()),
           "--step", str(step), "--frames", str(frames), "--rects", json.dumps(rects),
           "--imgsz", str(detector.imgsz[0]), "--conf", str(settings.detector.confidence),
           "--iou", str(settings.detector.iou)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    peer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if peer["frames"] < frames:
        return {"error": f"the peer timed {peer['frames']} frames of {frames}", "peer": peer}
    theirs = peer["frames_per_s_per_core"]
    peer["ratio_ours_over_peer"] = {
        f"{name}_decoding_file": round(ours[name]["frames_per_s_per_core_decoding_file"] / theirs, 2)
        for name in ("rules", "forced") if name in ours
    }
    if "forced" in ours:
        peer["ratio_inference_only_forced"] = round(
            peer["predict_ms_per_frame"] / max(1e-9, ours["forced"]["ms_per_stage"].get("inference", 0.0)), 2)
    peer["loadavg_after"] = os.getloadavg()
    return peer


def vm_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def realtime(args: argparse.Namespace, cameras: int) -> dict[str, Any]:
    """``counterwatch edge`` itself (EdgeNode) on ``cameras`` looping copies of the file, paced at real time,
    for ``--realtime`` seconds: does it keep every camera at its rate, and does the lag grow? Messages
    stay in the outbox (no broker is needed for this)."""
    from edge.node import EdgeNode

    settings = load_settings(EdgeSettings, args.config)
    camera = settings.cameras[0]
    video = args.video or camera.source
    if not Path(video).is_absolute() and not Path(video).exists():
        video = str((Path(args.config).parent / video).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        cams = [camera.model_copy(update={"id": f"rt{i}", "source": video, "loop": True, "realtime": True})
                for i in range(cameras)]
        settings = settings.model_copy(update={
            "cameras": cams,
            "mqtt": settings.mqtt.model_copy(update={"host": "127.0.0.1", "port": 9}),  # nobody listens
            "dashboard": settings.dashboard.model_copy(update={"url": None}),
            "outbox": settings.outbox.model_copy(update={"path": Path(tmp) / "outbox.sqlite"}),
            "evidence": settings.evidence.model_copy(update={"dir": Path(tmp) / "evidence"}),
        })
        node = EdgeNode(settings)
        cpu0, wall0 = time.process_time(), time.monotonic()
        node.start()
        samples: list[dict[str, Any]] = []
        while (elapsed := time.monotonic() - wall0) < args.realtime:
            time.sleep(min(10.0, max(0.1, args.realtime - elapsed)))
            lags = [r.pipeline.lag_s for r in node.cameras if r.pipeline.frames]
            samples.append({"t_s": round(time.monotonic() - wall0, 1),
                            "max_lag_s": round(max(lags, default=0.0), 3),
                            "frames": [r.pipeline.frames for r in node.cameras],
                            "rss_mb": round(vm_kb("VmRSS") / 1024, 1), "loadavg_1m": os.getloadavg()[0]})
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
        frames = [r.pipeline.frames for r in node.cameras]
        passes: Counter[str] = Counter()
        for r in node.cameras:
            for gate in r.pipeline.gates:
                passes.update(gate.schedule.passes)
        node.stop(graceful=False)
    expected = (wall - 2.0) * camera.analysis_fps  # the first second or two load the model and open files
    half = len(samples) // 2
    return {
        "mode": "realtime", "video": video, "cameras": cameras, "seconds": round(wall, 1),
        "analysis_fps": camera.analysis_fps,
        "frames_per_camera": frames, "frames_expected_per_camera": round(expected),
        "kept_rate": min(frames) >= 0.95 * expected,
        "max_lag_s_first_half": max((s["max_lag_s"] for s in samples[:half]), default=None),
        "max_lag_s_second_half": max((s["max_lag_s"] for s in samples[half:]), default=None),
        "final_lag_s": samples[-1]["max_lag_s"] if samples else None,
        "gated_out_fraction": round(passes["held"] / max(1, sum(passes.values())), 4),
        "cpu_s": round(cpu, 1), "cores_busy": round(cpu / wall, 3),
        "cameras_per_core_observed": round(cameras / max(1e-9, cpu / wall), 2),
        "peak_rss_mb": round(vm_kb("VmHWM") / 1024, 1), "loadavg": os.getloadavg(), "samples": samples,
    }


def child_command(args: argparse.Namespace, cameras: int) -> list[str]:
    """This bench for one camera count, in a process of its own, so that its peak RSS is that count's own."""
    cmd = [sys.executable, "-m", "counterwatch.cli", "bench", "edge", "--config", args.config,
           "--cameras", str(cameras), "--frames", str(args.frames)]
    cmd += ["--video", args.video] if args.video else []
    cmd += ["--imgsz", str(args.imgsz)] if args.imgsz else []
    cmd += ["--crop-upscale", str(args.crop_upscale)] if args.crop_upscale else []
    cmd += ["--precision", args.precision] if args.precision else []
    cmd += ["--no-forced"] if args.no_forced else []
    cmd += ["--realtime", str(args.realtime)] if args.realtime else []
    return cmd


def in_child(args: argparse.Namespace, cameras: int) -> dict[str, Any]:
    done = subprocess.run(child_command(args, cameras), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    row: dict[str, Any] = json.loads(done.stdout)
    return row


def run(args: argparse.Namespace) -> int:
    tune_allocator()  # the node's allocator policy (counterwatch edge run sets it too)
    counts = [int(c) for c in str(args.cameras).split(",") if c.strip()]
    if args.realtime:
        if len(counts) == 1:
            print(json.dumps(realtime(args, counts[0]), indent=2 if args.json else None))
        else:
            print(json.dumps([in_child(args, n) for n in counts], indent=2 if args.json else None))
        return 0
    if len(counts) == 1:
        result = measure(args, counts[0])
    else:
        rows = [in_child(args, n) for n in counts]
        result = {"scaling": [{
            "cameras": r["cameras"], "loadavg": r["loadavg"],
            "cameras_per_core_at_rules_rates": r["cameras_per_core_at_rules_rates"],
            "cameras_per_core_at_5fps": r.get("cameras_per_core_at_5fps"),
            "ms_per_camera_frame_rules": r["rules"]["ms_per_frame"],
            "ms_per_camera_frame_forced": r.get("forced", {}).get("ms_per_frame"),
            "gated_out_fraction": r["rules"]["gated_out_fraction"],
            "peak_rss_mb": r["peak_rss_mb"],
            "peak_rss_mb_without_replay_buffer": r["peak_rss_mb_without_replay_buffer"],
            "pipelines_peak_rss_mb": r["pipelines_peak_rss_mb"],
        } for r in rows], "runs": rows}
    print(json.dumps(result, indent=2 if args.json else None, ensure_ascii=False))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="edge config whose first camera is replayed")
    parser.add_argument("--video", help="video to replay (default: the config's first camera source)")
    parser.add_argument("--cameras", default="4",
                        help="simulated cameras, or a list (1,2,4,8,16): one run (and process) each")
    parser.add_argument("--frames", type=int, default=80, help="analysis frames per camera")
    parser.add_argument("--imgsz", type=int, help="override the detector input size")
    parser.add_argument("--crop-upscale", type=float, help="override detector.crop_upscale (per-window input size)")
    parser.add_argument("--precision", choices=["int8", "fp32"], help="override detector.precision (the build)")
    parser.add_argument("--no-forced", action="store_true", help="skip the forced full-rate pass")
    parser.add_argument("--peer", choices=["ultralytics"], help="also time a peer pipeline on the same frames")
    parser.add_argument("--peer-python", help="python of the venv with the train extra (default .venv-train)")
    parser.add_argument("--realtime", type=float, metavar="SECONDS",
                        help="instead: run the edge node on N looping copies of the file, paced, and report lag")
    parser.add_argument("--json", action="store_true", help="pretty-print the JSON")
