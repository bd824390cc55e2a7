"""The edge node: cameras -> pipelines -> outbox -> MQTT / HTTP, plus heartbeat and model rollout."""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel

from broker.codec import encode
from broker.payloads import (
    CameraHealth,
    EventMessage,
    HeartbeatMessage,
    ModelRollout,
    RolloutReport,
    StateMessage,
)
from broker.topics import Topic, TopicKind
from edge.detect import Detector, DetectorHolder, ModelError, ShippedModel, default_model, sha256_file
from edge.evidence.spool import EvidenceReady, recover, resend
from edge.outbox import Outbox
from edge.pipeline import CameraPipeline
from edge.publish import Publisher, Uploader
from edge.settings import CameraConfig, EdgeSettings
from edge.sign import OcrWorker
from edge.sources import CameraReader, Frame, Item, SourceStatus, is_file

log = logging.getLogger(__name__)


def load_detector(settings: EdgeSettings) -> Detector:
    d = settings.detector
    shipped = ShippedModel(path=d.model, sha256=d.sha256, version=None) if d.model else default_model(d.precision)
    return Detector(shipped.path, sha256=shipped.sha256, version=shipped.version, confidence=d.confidence,
                    iou=d.iou, threads=d.threads, imgsz=d.imgsz, class_confidence=d.class_confidence,
                    source_sha256=shipped.source_sha256)


def topic_for(message: BaseModel) -> tuple[str, str, bool]:
    """(topic, outbox kind, retained) of a device message."""
    if isinstance(message, EventMessage):
        return str(Topic(TopicKind.EVENT, message.site, message.device, message.camera, message.window)), "event", False
    if isinstance(message, StateMessage):
        return str(Topic(TopicKind.STATE, message.site, message.device, message.camera, message.window)), "state", True
    if isinstance(message, CameraHealth):
        return str(Topic(TopicKind.HEALTH, message.site, message.device, message.camera)), "health", True
    raise TypeError(f"not an outbox message: {type(message).__name__}")


@dataclass
class CameraRun:
    config: CameraConfig
    pipeline: CameraPipeline
    reader: CameraReader
    frames: queue.Queue[Item]
    clips: queue.Queue[EvidenceReady]
    done: threading.Event
    thread: threading.Thread | None = None
    last_at: datetime = datetime.min  # the last frame's time; the node's start (aware) until the first frame
    error: str | None = None  # why the analysis last failed, until it runs again (camera health "error")
    restarts: int = 0


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a camera's failed analysis: doubles per consecutive failure, capped."""

    initial_s: float = 1.0
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.max_s, self.initial_s * 2 ** max(0, failures - 1))


class EdgeNode:
    def __init__(self, settings: EdgeSettings, *, detector: Detector | None = None,
                 start_wall: datetime | None = None) -> None:
        self.settings = settings
        self.detector = DetectorHolder(detector or load_detector(settings), settings.detector.concurrent_runs)
        self.outbox = Outbox(settings.outbox.path, max_messages=settings.outbox.max_messages,
                             max_clip_bytes=settings.outbox.max_clip_bytes,
                             receipts=settings.outbox.receipt_policy())
        self.publisher = Publisher(settings.mqtt, site=settings.site, device=settings.device, outbox=self.outbox,
                                   model_version=lambda: self.detector.current.version,
                                   on_rollout=self.apply_rollout, inflight=settings.outbox.max_inflight)
        self.uploader = Uploader(settings.dashboard, device=settings.device, outbox=self.outbox)
        self.stop_event = threading.Event()
        self.backoff = Backoff()
        self.started = time.monotonic()
        self.start_wall = start_wall or datetime.now(UTC)
        ocr = OcrWorker() if settings.sign.ocr else None
        self.cameras: list[CameraRun] = []
        for cam in settings.cameras:
            frames: queue.Queue[Item] = queue.Queue(maxsize=2)  # full frames (4 MB at 1600x900): few
            clips: queue.Queue[EvidenceReady] = queue.Queue()
            pipeline = CameraPipeline(cam, settings, self.detector, self.enqueue,
                                      on_evidence=self._evidence_sink(clips), ocr=ocr)
            reader = CameraReader(cam, frames, start_wall=self.start_wall, stop=self.stop_event)
            self.cameras.append(CameraRun(cam, pipeline, reader, frames, clips, threading.Event(),
                                          last_at=self.start_wall))

    # -- outputs ------------------------------------------------------------------------------------------

    def enqueue(self, message: BaseModel) -> None:
        topic, kind, retain = topic_for(message)
        self.outbox.put(topic, encode(message), kind=kind, retain=retain)

    def _evidence_sink(self, clips: queue.Queue[EvidenceReady]) -> Callable[[EvidenceReady], None]:
        return lambda ready: self._evidence(ready, clips)

    def _evidence(self, ready: EvidenceReady, clips: queue.Queue[EvidenceReady]) -> None:
        self.outbox.put_clip(ready.ref.id, ready.path, ready.ref.sha256, ready.ref.content_type)
        if ready.ref.kind == "clip":
            clips.put(ready)  # attached to its event on the camera's own thread (rules are single-threaded)

    def recover_clips(self) -> None:
        """Clips a killed run left half-done: finish, re-send or report them before anything new starts."""
        def deliver(ready: EvidenceReady | None, message: EventMessage) -> None:
            if ready is not None and ready.path.exists():  # gone: already uploaded (or dropped and counted)
                self.outbox.put_clip(ready.ref.id, ready.path, ready.ref.sha256, ready.ref.content_type)
            self.enqueue(message)

        report = recover(self.settings.evidence.dir, deliver)
        # Evidence written just before a kill but never handed to the outbox belongs to no durable event.
        queued = {c.path.resolve() for c in self.outbox.due_clips(now=math.inf, limit=1 << 30)}
        for path in self.settings.evidence.dir.glob("*/*"):
            if path.suffix in (".jpg", ".mp4") and path.is_file() and path.resolve() not in queued:
                path.unlink(missing_ok=True)
                report.removed.append(path)
        self.outbox.bump("clips_recovered", report.recovered)
        self.outbox.bump("clips_truncated", report.truncated)
        self.outbox.bump("clips_lost_on_restart", report.lost)
        if report.recovered or report.lost or report.removed:
            log.warning("evidence after restart: %d clip(s) recovered (%d truncated), %d lost, %d partial or "
                        "orphaned file(s) removed",
                        report.recovered, report.truncated, report.lost, len(report.removed))

    # -- run ----------------------------------------------------------------------------------------------

    def start(self) -> EdgeNode:
        self.recover_clips()
        self.publisher.start()
        self.uploader.start()
        for run in self.cameras:
            run.reader.start()
            run.thread = threading.Thread(target=self._analyse, args=(run,), name=f"analyse-{run.config.id}",
                                          daemon=True)
            run.thread.start()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        return self

    def _attach_clips(self, run: CameraRun, at: datetime) -> None:
        while True:
            try:
                ready = run.clips.get_nowait()
            except queue.Empty:
                return
            if not run.pipeline.attach(ready, at) and ready.job is not None:
                self.enqueue(resend(ready.job, ready.ref, "complete"))  # the rules forgot the event by now
            if ready.job is not None and run.pipeline.recorder is not None:
                run.pipeline.recorder.release(ready.job)  # the outbox holds the clip and a message with it

    def _analyse(self, run: CameraRun) -> None:
        """Supervises one camera's analysis (Frigate's watchdog is the model): any exception is logged,
        reported as camera health ``error`` with its reason, and the analysis restarts after a back-off
        that doubles with each consecutive failure. The windows are unobserved meanwhile, never absent."""
        failures, ended = 0, False
        while not self.stop_event.is_set():
            try:
                ended = self._analysis(run)
                break
            except Exception as exc:
                failures = failures + 1 if run.error is not None else 1
                self._failed(run, exc)
                if self.stop_event.wait(self.backoff.delay(failures)):
                    break
                run.restarts += 1
                log.warning("camera %s: analysis restarted (%d consecutive failure(s))", run.config.id, failures)
        try:
            self._finish(run, run.last_at if ended or is_file(run.config.source) else datetime.now(UTC))
        except Exception:
            log.exception("camera %s: closing its analysis failed", run.config.id)
        finally:
            run.done.set()

    def _analysis(self, run: CameraRun) -> bool:
        """The camera's analysis loop: True when its source ended, False when the node stops."""
        pipeline, live = run.pipeline, not is_file(run.config.source)
        while not self.stop_event.is_set():
            try:
                item = run.frames.get(timeout=1.0)
            except queue.Empty:
                if live:
                    pipeline.tick(datetime.now(UTC))
                self._attach_clips(run, run.last_at)
                continue
            if isinstance(item, Frame):
                run.last_at = item.at
                self._attach_clips(run, item.at)
                pipeline.process(item)
                if run.error is not None:
                    self._recovered(run)
            elif isinstance(item, SourceStatus):
                if item.state == "lost" and pipeline.windows:
                    pipeline.blind(item.at if live else run.last_at, item.detail)
                elif item.state == "ended":
                    return True
        return False

    def _failed(self, run: CameraRun, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:256]
        log.exception("camera %s: analysis failed (%s); restarting it", run.config.id, reason)
        at = datetime.now(UTC) if not is_file(run.config.source) else run.last_at
        try:  # the windows go unobserved: their rules pause instead of timing an absence
            if run.pipeline.windows:
                run.pipeline.blind(at, f"analysis error: {reason}")
        except Exception:
            log.exception("camera %s: could not mark its windows unobserved", run.config.id)
        run.error = reason
        elapsed = max(1e-6, time.monotonic() - self.started)
        # 1 ms after the "offline" that blind() just sent: the dashboard keeps only strictly newer health.
        at = max(at, run.pipeline.health.last_frame_at or at) + timedelta(milliseconds=1)
        self.enqueue(CameraHealth(site=self.settings.site, device=self.settings.device, camera=run.config.id,
                                  at=at, status="error",
                                  fps=round(run.pipeline.frames / elapsed, 2),
                                  last_frame_at=run.pipeline.health.last_frame_at, detail=reason))

    def _recovered(self, run: CameraRun) -> None:
        """The first frame analysed after a failure: camera health is the pipeline's own again."""
        log.info("camera %s: analysis recovered after %s", run.config.id, run.error)
        run.error = None
        health = run.pipeline.health
        elapsed = max(1e-6, time.monotonic() - self.started)
        self.enqueue(CameraHealth(site=self.settings.site, device=self.settings.device, camera=run.config.id,
                                  at=health.last_frame_at or datetime.now(UTC), status=health.status,
                                  fps=round(run.pipeline.frames / elapsed, 2), last_frame_at=health.last_frame_at,
                                  detail=health.detail or None))

    def _finish(self, run: CameraRun, at: datetime) -> None:
        run.pipeline.finish(at)
        recorder = run.pipeline.recorder
        if recorder is not None:
            deadline = time.monotonic() + 120
            while recorder.busy and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.2)
            self._attach_clips(run, at)
        run.done.set()

    def _heartbeat_loop(self) -> None:
        topic = str(Topic(TopicKind.HEARTBEAT, self.settings.site, self.settings.device))
        while not self.stop_event.wait(self.settings.heartbeat_s):
            self.publisher.publish_now(topic, encode(self.heartbeat()))

    def heartbeat(self) -> HeartbeatMessage:
        _, clip_bytes = self.outbox.clip_stats()
        elapsed = max(1e-6, time.monotonic() - self.started)
        full = self.outbox.full
        if full:
            log.warning("outbox is full: oldest clips/state are being dropped (depth %d)", self.outbox.depth())
        return HeartbeatMessage(
            site=self.settings.site, device=self.settings.device, at=datetime.now(UTC), uptime_s=elapsed,
            outbox_depth=self.outbox.depth(), outbox_clip_bytes=clip_bytes, outbox_full=full,
            outbox_awaiting_receipt=self.outbox.awaiting_receipt(),
            receipt_resends=self.outbox.counter("receipt_resends"),
            mqtt_reconnects=max(0, self.publisher.connects - 1),
            dropped_clips=self.outbox.counter("dropped_clips"),
            clips_recovered=self.outbox.counter("clips_recovered"),
            clips_truncated=self.outbox.counter("clips_truncated"),
            clips_lost_on_restart=self.outbox.counter("clips_lost_on_restart"),
            cameras={r.config.id: "error" if r.error is not None else r.pipeline.health.status for r in self.cameras},
            analysis_fps={r.config.id: round(r.pipeline.frames / elapsed, 2) for r in self.cameras},
            model_version=self.detector.current.version,
            model_rollout=self.detector.report,
        )

    def cameras_done(self) -> bool:
        return all(r.done.is_set() for r in self.cameras)

    def drained(self) -> bool:
        """Every message is with the broker and every clip with the dashboard. Messages still waiting for
        their delivery receipt stay in the outbox file and are sent again after the next start if none came."""
        n_clips, _ = self.outbox.clip_stats()
        return self.outbox.unsent() == 0 and (n_clips == 0 or not self.settings.dashboard.url)

    def stop(self, *, graceful: bool = True) -> None:
        self.stop_event.set()
        for run in self.cameras:
            if run.thread is not None:
                run.thread.join(10)
            if run.pipeline.recorder is not None:
                run.pipeline.recorder.close()
        self.uploader.stop_event.set()
        self.publisher.stop(graceful=graceful)
        self.outbox.close()

    # -- model rollout ------------------------------------------------------------------------------------

    def apply_rollout(self, command: ModelRollout) -> None:
        """Fetch, verify, load, then swap: a bad model never replaces a working one. The outcome goes into
        every heartbeat (``model_rollout``), so the dashboard sees a refusal as well as a switch."""
        holder = self.detector
        with holder.rollout_lock:
            report = self._rollout(command)
            holder.report = report
        level = logging.INFO if report.status == "applied" else logging.ERROR
        log.log(level, "model rollout %s: %s%s (running %s)", command.version, report.status,
                f" - {report.detail}" if report.detail else "", holder.current.version)

    def _rollout(self, command: ModelRollout) -> RolloutReport:
        def report(status: Literal["applied", "refused", "failed"], detail: str | None = None) -> RolloutReport:
            return RolloutReport(version=command.version, sha256=command.sha256, status=status,
                                 detail=detail[:256] if detail else None, at=datetime.now(UTC))

        holder = self.detector
        current, last = holder.current, holder.report
        if last is not None and last.status == "refused" and (last.version, last.sha256) == (command.version,
                                                                                                 command.sha256):
            return last  # a version's bytes never change: the retained command after a reconnect is no news
        if command.sha256 == current.sha256:
            return report("applied", "already running")  # a retained command seen again after a reconnect
        if holder.rollback(command.sha256):
            return report("applied", f"rolled back from {current.version} to the kept previous model")
        # Named by hash: the version is free text from the network and never becomes a path.
        target = self.settings.outbox.path.parent / "models" / f"{command.sha256}.onnx"
        try:
            if not (target.exists() and sha256_file(target) == command.sha256):
                self._download(command, target)
        except ModelError as exc:
            return report("refused", str(exc))
        except (httpx.HTTPError, OSError) as exc:
            return report("failed", f"could not fetch {command.url}: {exc}")
        d = self.settings.detector
        try:
            detector = Detector(target, sha256=command.sha256, version=command.version, confidence=d.confidence,
                                iou=d.iou, threads=d.threads, imgsz=d.imgsz,
                                class_confidence=d.class_confidence)
        except Exception as exc:  # onnxruntime's load errors (InvalidProtobuf, Fail, ...) share no base but Exception
            target.unlink(missing_ok=True)  # the bytes asked for, but no usable model: nothing to keep
            return report("refused", f"{type(exc).__name__}: {exc}")
        holder.swap(detector)
        return report("applied")

    def _download(self, command: ModelRollout, target: Path) -> None:
        """Into ``target`` only when the bytes hash to ``command.sha256`` (else ModelError, nothing kept)."""
        base = self.settings.dashboard.url
        url = urljoin(base.rstrip("/") + "/", command.url) if base else command.url
        headers = {}
        # The device token goes to our own dashboard only, never to a model URL somewhere else.
        if self.settings.dashboard.token and base and urlsplit(url)[:2] == urlsplit(base)[:2]:
            headers["Authorization"] = f"Bearer {self.settings.dashboard.token}"
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(".part")
        digest = hashlib.sha256()
        try:
            with httpx.stream("GET", url, headers=headers, timeout=60, follow_redirects=True) as resp:
                resp.raise_for_status()
                with part.open("wb") as f:
                    for chunk in resp.iter_bytes():
                        digest.update(chunk)
                        f.write(chunk)
            if digest.hexdigest() != command.sha256:
                raise ModelError(f"downloaded file has sha256 {digest.hexdigest()}, the command says "
                                 f"{command.sha256}; keeping the running model")
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)

    # -- whole run ----------------------------------------------------------------------------------------

    def run(self, *, max_seconds: float | None = None, until_eof: bool = False, drain_timeout: float = 120.0) -> int:
        self.start()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self.stop_event.is_set():
                if until_eof and self.cameras_done():
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            self.stop_event.set()
            for run in self.cameras:
                if run.thread is not None:
                    run.thread.join(130)
            drain_until = time.monotonic() + drain_timeout
            while not self.drained() and time.monotonic() < drain_until:
                self.outbox.changed.set()
                time.sleep(0.2)
            if not self.drained():
                log.warning("stopping with %d message(s) still in the outbox (sent on next start)",
                            self.outbox.unsent())
        except KeyboardInterrupt:
            log.info("interrupted")
        finally:
            self.stop()
        return 0
