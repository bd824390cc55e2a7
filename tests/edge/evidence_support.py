"""Helpers for evidence tests: an event start message as the pipeline hands it to the recorder."""

from __future__ import annotations

from datetime import datetime

from broker.payloads import EventMessage, EventPhase, Rule, Severity


def event_message(event_id: str, at: datetime, *, camera: str = "cam1") -> EventMessage:
    return EventMessage(
        site="hall1", device="edge-a", camera=camera, window="w01", event_id=event_id, seq=0,
        phase=EventPhase.START, rule=Rule.UNATTENDED_NO_SIGN, severity=Severity.MEDIUM, started_at=at,
        sent_at=at, confidence=0.9, details={"hold_s": 60},
    )
