"""Alerts: when an unacknowledged event escalates, and acknowledging it.

Escalation is timed from the event's ``started_at`` (when it happened at the window), never from
``received_at``: after an outbox backlog an event arrives late, and it is then already overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from dashboard.db.audit import audit
from dashboard.db.models import AlertAck, Event
from dashboard.services.base import Actor, clean_text
from dashboard.services.errors import NotFound

NOTE_MAX = 2000


def escalation_cutoff(now: datetime, escalation: timedelta) -> datetime:
    """Events that started at or before this instant are overdue."""
    return now - escalation


def is_escalated(event: Event, now: datetime, escalation: timedelta) -> bool:
    """Unacknowledged past the configured time: supervisors see it flagged (and counted in their menu)."""
    return event.acknowledged_at is None and event.started_at <= escalation_cutoff(now, escalation)


def escalated_clause(now: datetime, escalation: timedelta) -> ColumnElement[bool]:
    """:func:`is_escalated` as SQL, for filters and counts."""
    return and_(Event.acknowledged_at.is_(None), Event.started_at <= escalation_cutoff(now, escalation))


def event_by_pk(db: Session, pk: int) -> Event:
    event = db.get(Event, pk)
    if event is None:
        raise NotFound(f"event {pk} not found")
    return event


def event_by_id(db: Session, event_id: str) -> Event:
    event = db.scalar(select(Event).where(Event.event_id == event_id))
    if event is None:
        raise NotFound(f"event {event_id!r} not found")
    return event


@dataclass(frozen=True)
class Acknowledgement:
    ack: AlertAck
    created: bool  # False: it was already acknowledged, and that first acknowledgement is returned


def first_ack(db: Session, event: Event) -> AlertAck | None:
    return db.scalar(select(AlertAck).where(AlertAck.event_pk == event.id).order_by(AlertAck.at, AlertAck.id)
                     .limit(1))


def acknowledge(db: Session, event: Event, actor: Actor, note: str | None) -> Acknowledgement:
    """Record who acknowledged and when. Idempotent: the first acknowledgement stands, a repeat (from anyone,
    through the API or the page) adds no row and answers with that first one."""
    if event.acknowledged_at is not None:
        existing = first_ack(db, event)
        if existing is not None:
            return Acknowledgement(existing, created=False)
    note = clean_text(note, NOTE_MAX)
    row = AlertAck(event_pk=event.id, user_id=actor.user.id, at=actor.now, note=note)
    db.add(row)
    event.acknowledged_at = event.acknowledged_at or actor.now
    event.updated_at = actor.now
    db.flush()
    audit(db, actor.user, "acknowledge", "event", event.event_id, {"note": note}, ip=actor.ip)
    return Acknowledgement(row, created=True)
