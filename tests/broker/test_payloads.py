from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from broker.payloads import EventPhase, Rule, StateMessage
from tests.broker.samples import T0, event, health, heartbeat, rollout, state, status


def test_lifecycle_start_update_end() -> None:
    assert event(phase=EventPhase.UPDATE, seq=1).ended_at is None
    end = event(phase=EventPhase.END, seq=2, ended_at=T0 + timedelta(minutes=3))
    assert end.ended_at == T0 + timedelta(minutes=3)


@pytest.mark.parametrize(("changes", "message"), [
    ({"phase": EventPhase.END}, "needs ended_at"),
    ({"phase": EventPhase.START, "ended_at": T0}, "only an 'end' message"),
    ({"phase": EventPhase.END, "ended_at": T0 - timedelta(seconds=1)}, "before started_at"),
])
def test_lifecycle_violations(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        event(**changes)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        event(started_at=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValidationError, match="timezone"):
        StateMessage.model_validate({**state().model_dump(), "at": "2026-03-02T09:00:00"})


def test_aware_datetimes_normalised_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    msg = event(started_at=datetime(2026, 3, 2, 17, 0, tzinfo=beijing))
    assert msg.started_at == T0 and msg.started_at.tzinfo is UTC


def test_version_is_checked() -> None:
    data = event().model_dump(mode="json")
    assert data["v"] == 1
    with pytest.raises(ValidationError):
        type(event()).model_validate({**data, "v": 2})


@pytest.mark.parametrize("changes", [
    {"confidence": 1.5},
    {"event_id": "short"},
    {"event_id": "has space in it"},
    {"camera": "cam/1"},
    {"rule": "sleeping"},
    {"seq": -1},
    {"evidence": [{"kind": "clip", "id": "c1", "sha256": "nothex", "content_type": "video/mp4", "size": 1}]},
])
def test_field_constraints(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        event(**changes)


def test_extra_fields_forbidden_and_messages_frozen() -> None:
    with pytest.raises(ValidationError):
        type(event()).model_validate({**event().model_dump(mode="json"), "surprise": 1})
    with pytest.raises(ValidationError):
        event().seq = 5  # type: ignore[misc]


def test_json_round_trip_every_kind() -> None:
    for message in (event(), state(), status(), health(), heartbeat(), rollout()):
        assert type(message).model_validate_json(message.model_dump_json()) == message


def test_camera_health_rules() -> None:
    assert Rule.CAMERA_OFFLINE.is_camera_health and not Rule.UNATTENDED_NO_SIGN.is_camera_health
