"""Contract messages for tests (real broker.payloads models, encoded with broker.codec)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from broker.codec import encode
from broker.payloads import (
    CameraHealth,
    EventMessage,
    EventPhase,
    Rule,
    Severity,
    StateMessage,
    StatusMessage,
)
from broker.topics import Topic, TopicKind
from dashboard.ingest.apply import RawMessage

SITE, DEVICE, CAMERA, WINDOW = "hall1", "edge-a", "cam1", "w01"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
_ids = itertools.count()


def event(
    event_id: str, seq: int, phase: EventPhase, *, rule: Rule = Rule.UNATTENDED_NO_SIGN,
    started_at: datetime = T0, ended_at: datetime | None = None, device: str = DEVICE,
    window: str = WINDOW, **extra: object,
) -> EventMessage:
    return EventMessage(
        site=SITE, device=device, event_id=event_id, seq=seq, phase=phase, rule=rule,
        severity=Severity.HIGH, camera=CAMERA, window=window, started_at=started_at,
        ended_at=ended_at if phase is EventPhase.END else None,
        sent_at=started_at + timedelta(seconds=seq), confidence=0.5 + seq / 100, **extra,  # type: ignore[arg-type]
    )


def lifecycle(event_id: str, started_at: datetime = T0, minutes: int = 35, **kw: object) -> list[EventMessage]:
    end = started_at + timedelta(minutes=minutes)
    return [
        event(event_id, 0, EventPhase.START, started_at=started_at, **kw),  # type: ignore[arg-type]
        event(event_id, 1, EventPhase.UPDATE, started_at=started_at, subtype="x", **kw),  # type: ignore[arg-type]
        event(event_id, 2, EventPhase.END, started_at=started_at, ended_at=end, **kw),  # type: ignore[arg-type]
    ]


def state(changed_at: datetime, *, present: bool, sign: bool = False, observed: bool = True,
          device: str = DEVICE, window: str = WINDOW) -> StateMessage:
    return StateMessage(
        site=SITE, device=device, state_id=f"st{next(_ids):08d}", camera=CAMERA, window=window,
        at=changed_at + timedelta(seconds=1), changed_at=changed_at, present=present,
        staff_count=int(present), sign=sign, in_service_hours=True, observed=observed,
    )


def status(at: datetime, online: bool = True, device: str = DEVICE) -> StatusMessage:
    from broker.payloads import NodeStatus

    return StatusMessage(site=SITE, device=device, status=NodeStatus.ONLINE if online else NodeStatus.OFFLINE,
                         at=at, software_version="1.0")


def health(at: datetime, status_: str = "ok", device: str = DEVICE) -> CameraHealth:
    return CameraHealth(site=SITE, device=device, camera=CAMERA, at=at, status=status_, fps=5.0)  # type: ignore[arg-type]


def topic_of(message: object) -> str:
    kinds = {EventMessage: TopicKind.EVENT, StateMessage: TopicKind.STATE, StatusMessage: TopicKind.STATUS,
             CameraHealth: TopicKind.HEALTH}
    kind = kinds[type(message)]  # type: ignore[index]
    camera = getattr(message, "camera", None)
    window = getattr(message, "window", None)
    return str(Topic(kind, message.site, message.device, camera, window))  # type: ignore[attr-defined]


def raw(message: object, received_at: datetime | None = None) -> RawMessage:
    return RawMessage(topic_of(message), encode(message), received_at or datetime.now(UTC))  # type: ignore[arg-type]
