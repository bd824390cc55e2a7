"""Valid sample payloads for broker tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from broker.payloads import (
    CameraHealth,
    EventMessage,
    EventPhase,
    HeartbeatMessage,
    ModelRollout,
    NodeStatus,
    Rule,
    Severity,
    StateMessage,
    StatusMessage,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHA = "0" * 64


def event(i: int = 0, *, site: str = "hall1", device: str = "edge-a", camera: str = "cam1",
          window: str = "w01", **changes: Any) -> EventMessage:
    fields: dict[str, Any] = dict(
        site=site, device=device, camera=camera, window=window, event_id=f"evt-{i:08d}", seq=0,
        phase=EventPhase.START, rule=Rule.PHONE_USE, severity=Severity.MEDIUM, started_at=T0,
        sent_at=T0 + timedelta(seconds=31), confidence=0.9,
    )
    fields.update(changes)
    return EventMessage(**fields)


def status(state: NodeStatus = NodeStatus.ONLINE, *, site: str = "hall1", device: str = "edge-a") -> StatusMessage:
    return StatusMessage(site=site, device=device, status=state, at=T0)


def state(*, site: str = "hall1", device: str = "edge-a") -> StateMessage:
    return StateMessage(site=site, device=device, state_id="state-0001", camera="cam1", window="w01", at=T0,
                        changed_at=T0, present=True, staff_count=1, sign=False, in_service_hours=True,
                        observed=True)


def health(*, site: str = "hall1", device: str = "edge-a") -> CameraHealth:
    return CameraHealth(site=site, device=device, camera="cam1", at=T0, status="ok", fps=12.5)


def heartbeat(*, site: str = "hall1", device: str = "edge-a") -> HeartbeatMessage:
    return HeartbeatMessage(site=site, device=device, at=T0, uptime_s=10.0, outbox_depth=0)


def rollout(*, site: str = "hall1", device: str = "edge-a") -> ModelRollout:
    return ModelRollout(site=site, device=device, version="2026.03", url="https://dash/models/x.onnx",
                        sha256=SHA, issued_at=T0)
