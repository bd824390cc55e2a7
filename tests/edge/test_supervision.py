"""Supervised camera threads: a failure in a camera's analysis is reported as camera health ``error`` (with
its reason) and the analysis restarts with back-off and recovers. Real office clip, real Mosquitto, a real
(tiny) ONNX detector whose calls fail for a while, as a crashing model or a bad frame would."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from broker.codec import decode
from broker.payloads import CameraHealth
from broker.topics import Topic, TopicKind
from edge.detect import Detection, Detector, Rect
from edge.node import Backoff, EdgeNode
from edge.settings import EdgeSettings
from tests.edge.onnx_fixtures import constant_detector, prediction
from tests.support.mqtt import BrokerHandle, Collector, connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAMES = {0: "person"}


class FlakyDetector(Detector):
    """Fails calls ``first`` .. ``first + count - 1``, answers the others."""

    def __init__(self, path: Path, first: int, count: int) -> None:
        super().__init__(path, version="flaky")
        self.first, self.count, self.calls = first, count, 0
        self._lock = threading.Lock()

    def detect_crops(self, frame: Any, rects: Sequence[Rect], **kw: Any) -> list[list[Detection]]:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.first <= call < self.first + self.count:
            raise RuntimeError(f"injected fault on call {call}")
        return super().detect_crops(frame, rects, **kw)


def wait(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def settings(tmp_path: Path, broker: BrokerHandle, clip: Path) -> EdgeSettings:
    office = yaml.safe_load((ROOT / "config/office-cctv.yaml").read_text())
    windows = [w for w in office["cameras"][0]["windows"] if w["id"] == "station-1"]
    return EdgeSettings.model_validate({
        **office,
        "mqtt": {"host": broker.host, "port": broker.port, "username": "edge-a",
                 "password": broker.passwords["edge-a"], "keepalive": 10},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "evidence": {"enabled": False, "dir": str(tmp_path / "evidence")},
        "sign": {**office.get("sign", {}), "ocr": False},
        "heartbeat_s": 0.2,
        "cameras": [{"id": "cam5", "source": str(clip), "analysis_fps": 5, "realtime": False, "windows": windows}],
    })


def test_a_failing_camera_reports_error_and_recovers(tmp_path: Path, fresh_mosquitto: BrokerHandle,
                                                     office_clip: Path) -> None:
    model = constant_detector(tmp_path / "tiny.onnx", NAMES, prediction(NAMES, [(32, 32, 20, 30, "person", 0.9)]))
    flaky = FlakyDetector(model, first=4, count=3)  # three consecutive failures: back-off grows, then recovery
    cfg = settings(tmp_path, fresh_mosquitto, office_clip)
    topic = str(Topic(TopicKind.HEALTH, cfg.site, cfg.device, "cam5"))
    watcher = fresh_mosquitto.client("dashboard")
    assert connect(watcher, fresh_mosquitto.host, fresh_mosquitto.port) == 0
    watcher.loop_start()
    health = Collector(watcher, [topic])
    node = EdgeNode(cfg, detector=flaky)
    node.backoff = Backoff(initial_s=0.05, max_s=0.2)
    run = node.cameras[0]
    beats: list[str] = []
    try:
        node.start()

        def statuses() -> list[CameraHealth]:
            return [m for t, p in list(health.messages) if isinstance(m := decode(t, p)[1], CameraHealth)]

        wait(lambda: run.restarts >= 3 and run.error is None and run.pipeline.frames > flaky.first + 2,
             what="the camera to fail three times and analyse frames again")
        beats.append(node.heartbeat().cameras["cam5"])
        seen = wait(lambda: (s := statuses()) and s[-1].status == "ok"
                    and sum(m.status == "error" for m in s) >= 3 and s, what="3 errors, then ok, on the broker")
    finally:
        node.stop()
        watcher.loop_stop()
        watcher.disconnect()
    errors = [m for m in seen if m.status == "error"]
    assert errors[0].detail is not None and "RuntimeError: injected fault on call 4" in errors[0].detail
    assert len(errors) == 3  # one report per failure, none more
    first_error = seen.index(errors[0])
    assert seen[first_error - 1].status == "offline"  # the windows went unobserved, never absent
    assert all(a.at <= b.at for a, b in itertools.pairwise(seen))
    # What the dashboard ends up showing: it keeps a camera's health only when strictly newer.
    shown: list[CameraHealth] = []
    for m in seen:
        if not shown or m.at > shown[-1].at:
            shown.append(m)
    assert [m.detail for m in shown if m.status == "error"] == [m.detail for m in errors]
    assert shown[-1].status == "ok" and beats == ["ok"]
    assert flaky.calls > flaky.first + flaky.count  # the same detector answers again after the restarts


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(initial_s=1.0, max_s=30.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    assert np.isclose(Backoff(0.05, 0.2).delay(3), 0.2)


def test_heartbeat_reports_a_camera_in_error(tmp_path: Path, fresh_mosquitto: BrokerHandle,
                                             office_clip: Path) -> None:
    model = constant_detector(tmp_path / "tiny.onnx", NAMES, prediction(NAMES, []))
    node = EdgeNode(settings(tmp_path, fresh_mosquitto, office_clip), detector=Detector(model))
    try:
        run = node.cameras[0]
        node._failed(run, ValueError("decoder exploded"))
        assert node.heartbeat().cameras == {"cam5": "error"}
        assert run.error == "ValueError: decoder exploded"
        assert node.outbox.depth() >= 1  # the error health waits in the durable outbox for the broker
    finally:
        node.outbox.close()  # never started: nothing else to stop
