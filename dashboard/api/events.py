"""/api/v1/events, /alerts: what the edge reported, and what people did about it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import AwareDatetime
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from dashboard.api.common import MAX_ID, EventIdPath, IdQuery, LimitQ, OffsetQ, ServiceRoute, paginate
from dashboard.api.schemas import (
    AckIn,
    AckOut,
    AlertOut,
    EventOut,
    IntervalOut,
    Page,
    ReviewIn,
    ReviewOut,
)
from dashboard.auth.deps import Acknowledger, AnyUser, DbSession, Reviewer, actor, get_ctx
from dashboard.db.models import AlertAck, Event, EventAttribution, PresenceInterval, Review, Window, utcnow
from dashboard.enums import EventState, PresenceState, Verdict
from dashboard.services import alerts as alert_service
from dashboard.services import reviews as review_service

router = APIRouter(tags=["events"], route_class=ServiceRoute)


def _event_query() -> Select[Event]:
    return select(Event).options(selectinload(Event.attributions))


def _state_filter(stmt: Select[Event], state: EventState) -> Select[Event]:
    if state is EventState.CONFIRMED:
        return stmt.where(Event.verdict == Verdict.CONFIRM)
    if state is EventState.DISMISSED:
        return stmt.where(Event.verdict == Verdict.DISMISS)
    stmt = stmt.where(Event.verdict.is_(None))
    if state is EventState.ACKNOWLEDGED:
        return stmt.where(Event.acknowledged_at.is_not(None))
    if state is EventState.ENDED:
        return stmt.where(Event.acknowledged_at.is_(None), Event.ended_at.is_not(None))
    return stmt.where(Event.acknowledged_at.is_(None), Event.ended_at.is_(None))


def _get_event(db: DbSession, event_id: str) -> Event:
    event = db.scalar(_event_query().where(Event.event_id == event_id))
    if event is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event {event_id!r} not found")
    return event


def _escalation(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.escalation_minutes)


@router.get("/events", response_model=Page[EventOut])
def list_events(
    db: DbSession,
    _: AnyUser,
    window_id: IdQuery = None,
    window: str | None = Query(None, description="window code"),
    site_id: str | None = None,
    staff_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="events attributed to this clerk")] = None,
    rule: str | None = None,
    state: EventState | None = None,
    since: AwareDatetime | None = Query(None, description="started at or after"),
    until: AwareDatetime | None = Query(None, description="started before"),
    limit: int = LimitQ,
    offset: int = OffsetQ,
) -> dict[str, object]:
    stmt = _event_query()
    if window_id is not None:
        stmt = stmt.where(Event.window_id == window_id)
    if window is not None:
        stmt = stmt.join(Window, Window.id == Event.window_id).where(Window.code == window)
    if site_id is not None:
        stmt = stmt.where(Event.site_id == site_id)
    if staff_id is not None:
        stmt = stmt.where(Event.id.in_(select(EventAttribution.event_pk).where(EventAttribution.staff_id == staff_id)))
    if rule is not None:
        stmt = stmt.where(Event.rule == rule)
    if state is not None:
        stmt = _state_filter(stmt, state)
    if since is not None:
        stmt = stmt.where(Event.started_at >= since)
    if until is not None:
        stmt = stmt.where(Event.started_at < until)
    items, total = paginate(db, stmt.order_by(Event.started_at.desc(), Event.id.desc()), limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(event_id: EventIdPath, db: DbSession, _: AnyUser) -> Event:
    return _get_event(db, event_id)


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    request: Request,
    db: DbSession,
    _: AnyUser,
    site_id: str | None = None,
    ongoing_only: bool = Query(False, description="only events that have not ended"),
    limit: int = LimitQ,
    offset: int = OffsetQ,
) -> dict[str, object]:
    """Unacknowledged, unreviewed events, newest first; ``escalated`` once older than the escalation time."""
    stmt = _event_query().where(Event.acknowledged_at.is_(None), Event.verdict.is_(None))
    if site_id is not None:
        stmt = stmt.where(Event.site_id == site_id)
    if ongoing_only:
        stmt = stmt.where(Event.ended_at.is_(None))
    items, total = paginate(db, stmt.order_by(Event.started_at.desc(), Event.id.desc()), limit, offset)
    now, escalation = utcnow(), _escalation(request)
    alerts = [AlertOut(**EventOut.model_validate(e).model_dump(),
                       escalated=alert_service.is_escalated(e, now, escalation)) for e in items]
    return {"items": alerts, "total": total, "limit": limit, "offset": offset}


@router.post("/events/{event_id}/ack", response_model=AckOut, status_code=status.HTTP_201_CREATED)
def acknowledge(event_id: EventIdPath, body: AckIn, request: Request, db: DbSession, user: Acknowledger) -> AlertAck:
    """Idempotent: a repeat (by anyone, here or on the page) answers with the first acknowledgement."""
    event = _get_event(db, event_id)
    return alert_service.acknowledge(db, event, actor(request, user), body.note).ack


@router.get("/events/{event_id}/reviews", response_model=list[ReviewOut])
def list_reviews(event_id: EventIdPath, db: DbSession, _: AnyUser) -> list[Review]:
    event = _get_event(db, event_id)
    return list(db.scalars(select(Review).where(Review.event_pk == event.id).order_by(Review.at, Review.id)))


@router.post("/events/{event_id}/reviews", response_model=ReviewOut, status_code=status.HTTP_201_CREATED)
def review(event_id: EventIdPath, body: ReviewIn, request: Request, db: DbSession, user: Reviewer) -> Review:
    """Confirm or dismiss (false_alarm / excused / other) after watching the evidence; the latest counts."""
    event = _get_event(db, event_id)
    return review_service.record_review(db, event, actor(request, user), body.verdict, body.reason, body.note)


@router.get("/presence", response_model=Page[IntervalOut])
def list_presence(
    db: DbSession,
    _: AnyUser,
    window_id: IdQuery = None,
    state: PresenceState | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: int = LimitQ,
    offset: int = OffsetQ,
) -> dict[str, object]:
    stmt = select(PresenceInterval)
    if window_id is not None:
        stmt = stmt.where(PresenceInterval.window_id == window_id)
    if state is not None:
        stmt = stmt.where(PresenceInterval.state == state)
    if since is not None:
        stmt = stmt.where((PresenceInterval.end.is_(None)) | (PresenceInterval.end > since))
    if until is not None:
        stmt = stmt.where(PresenceInterval.start < until)
    items, total = paginate(db, stmt.order_by(PresenceInterval.start.desc()), limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


