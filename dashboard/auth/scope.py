"""Hall-scoped users: a supervisor, duty officer or viewer granted one or more halls (``user_site`` rows) sees
only those halls' records, everywhere: pages, API lists and details, live streams, reports and exports,
evidence. A user without grants sees every hall (a city-wide role); an admin is never scoped.

The scope is enforced once, in the ORM, rather than in each of ~60 routes: every SELECT made while a scoped
user's request runs gets ``WHERE site_id IN (...)`` criteria on every record type that belongs to a hall
(directly, or through its device, window, clerk or event), so a hidden record is simply *not found* (404),
lists leave it out, and counts do not count it. Writes are checked before flush: creating or changing a
record of a hall outside the scope raises :class:`OutOfScope` (answered 403).

The request's scope is set by the authentication dependency (``apply_user_scope``), on its database session
and in a context variable, so sessions a handler opens itself (live streams) are scoped too. Work outside a
request (ingest, retention, CLI) has no scope."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import ColumnElement

from dashboard.db import models as m
from dashboard.enums import Role

# None: every hall. A frozenset: only those halls (possibly empty: nothing).
Sites = frozenset[str] | None
_SCOPE_KEY = "cw_site_scope"
_current: ContextVar[Sites] = ContextVar("cw_site_scope", default=None)


class OutOfScope(PermissionError):
    """A write touched a hall the user may not see."""


def granted_sites(db: Session, user_id: int) -> frozenset[str]:
    rows = db.execute(select(m.UserSite.site_id).where(m.UserSite.user_id == user_id))
    return frozenset(r[0] for r in rows)


def sites_for(db: Session, user: m.User | None) -> Sites:
    """The halls ``user`` may see: None for every hall (admins, users without grants)."""
    if user is None or user.role is Role.ADMIN:
        return None
    granted = granted_sites(db, user.id)
    return granted or None


def apply_user_scope(db: Session, user: m.User | None) -> Sites:
    """Scope the request's session (and its context) to what ``user`` may see."""
    sites = sites_for(db, user)
    db.info[_SCOPE_KEY] = sites
    _current.set(sites)
    return sites


def current_sites(db: Session | None = None) -> Sites:
    if db is not None and _SCOPE_KEY in db.info:
        return db.info[_SCOPE_KEY]
    return _current.get()


def set_scope(db: Session, sites: Sites) -> None:
    """Scope a session explicitly (tests, jobs acting for a user)."""
    db.info[_SCOPE_KEY] = sites


def grant_sites(db: Session, user_id: int, site_ids: Iterable[str]) -> None:
    """Replace the user's grants (an empty list makes the user city-wide again)."""
    wanted = set(site_ids)
    for row in list(db.scalars(select(m.UserSite).where(m.UserSite.user_id == user_id))):
        if row.site_id in wanted:
            wanted.discard(row.site_id)
        else:
            db.delete(row)
    for site_id in sorted(wanted):
        db.add(m.UserSite(user_id=user_id, site_id=site_id))
    db.flush()


# -- the criteria -----------------------------------------------------------------------------------------
def _criteria(sites: frozenset[str]) -> list[tuple[type[Any], ColumnElement[bool]]]:
    allowed = list(sites)
    devices = select(m.Device.id).where(m.Device.site_id.in_(allowed))
    windows = select(m.Window.id).where(m.Window.site_id.in_(allowed))
    staff = select(m.Staff.id).where(m.Staff.site_id.in_(allowed))
    events = select(m.Event.id).where(m.Event.site_id.in_(allowed))
    return [
        (m.Site, m.Site.id.in_(allowed)),
        (m.Device, m.Device.site_id.in_(allowed)),
        (m.Window, m.Window.site_id.in_(allowed)),
        (m.Staff, m.Staff.site_id.in_(allowed)),
        (m.Event, m.Event.site_id.in_(allowed)),
        (m.Camera, m.Camera.device_id.in_(devices)),
        (m.Evidence, m.Evidence.device_id.in_(devices)),
        (m.ModelRolloutRecord, m.ModelRolloutRecord.device_id.in_(devices)),
        (m.Roster, m.Roster.window_id.in_(windows) & m.Roster.staff_id.in_(staff)),
        (m.StateChange, m.StateChange.window_id.in_(windows)),
        (m.PresenceInterval, m.PresenceInterval.window_id.in_(windows)),
        (m.LeaveRecord, m.LeaveRecord.staff_id.in_(staff)),
        (m.OffPostNotice, m.OffPostNotice.staff_id.in_(staff)),
        (m.AbsenceClassification, m.AbsenceClassification.staff_id.in_(staff)),
        (m.EventAttribution, m.EventAttribution.event_pk.in_(events)),
        (m.AlertAck, m.AlertAck.event_pk.in_(events)),
        (m.Review, m.Review.event_pk.in_(events)),
    ]


@event.listens_for(Session, "do_orm_execute")
def _scope_selects(state: ORMExecuteState) -> None:
    if not state.is_select:
        return
    sites = current_sites(state.session)
    if sites is None:
        return
    options = [with_loader_criteria(entity, criterion, include_aliases=True) for entity, criterion in _criteria(sites)]
    state.statement = state.statement.options(*options)


# -- writes -------------------------------------------------------------------------------------------------
def _site_of(db: Session, obj: Any) -> list[str | None]:
    """The hall(s) a new or changed record belongs to (None where its parent is not visible)."""
    def one(stmt: Any) -> str | None:
        return db.scalar(stmt)

    if isinstance(obj, m.Site):
        return [obj.id]
    if isinstance(obj, m.Device | m.Window | m.Staff | m.Event):
        return [obj.site_id]
    if isinstance(obj, m.Camera | m.Evidence | m.ModelRolloutRecord):
        return [one(select(m.Device.site_id).where(m.Device.id == obj.device_id))]
    if isinstance(obj, m.Roster):
        return [one(select(m.Window.site_id).where(m.Window.id == obj.window_id)),
                one(select(m.Staff.site_id).where(m.Staff.id == obj.staff_id))]
    if isinstance(obj, m.LeaveRecord | m.OffPostNotice | m.AbsenceClassification):
        return [one(select(m.Staff.site_id).where(m.Staff.id == obj.staff_id))]
    if isinstance(obj, m.AlertAck | m.Review | m.EventAttribution):
        return [one(select(m.Event.site_id).where(m.Event.id == obj.event_pk))]
    return []


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    sites = current_sites(session)
    if sites is None:
        return
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty]:
            for site in _site_of(session, obj):
                if site is None or site not in sites:
                    raise OutOfScope(f"{type(obj).__name__} of a hall outside your scope")
