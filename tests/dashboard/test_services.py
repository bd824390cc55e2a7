"""dashboard.services on a real database, without HTTP: the rules both the API and the pages rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.payloads import EventPhase
from dashboard.auth.users import create_user
from dashboard.db.engine import Database
from dashboard.db.models import AlertAck, Event, LeaveRecord, User
from dashboard.enums import LeaveStatus, LeaveType, Role
from dashboard.ingest.apply import Ingestor
from dashboard.services import alerts, leave
from dashboard.services.base import Actor
from dashboard.services.errors import Conflict
from dashboard.settings import LeavePolicy
from tests.dashboard import factories as f
from tests.dashboard.helpers import add_clerk, register

pytestmark = pytest.mark.db
GRACE = timedelta(minutes=5)


def _user(db: Database, name: str, role: Role) -> int:
    with db.session() as s:
        return create_user(s, name, "a-good-password-1", role).id


def test_escalation_counts_from_the_start_and_stops_at_the_acknowledgement(db: Database) -> None:
    register(db)
    Ingestor(db).apply([f.raw(f.event("evt-esc00001", 0, EventPhase.START), received_at=f.T0 + timedelta(hours=3))])
    ten = timedelta(minutes=10)
    duty = _user(db, "desk", Role.DUTY)
    with db.session() as s:
        event = s.scalars(select(Event)).one()
        assert not alerts.is_escalated(event, f.T0 + ten - timedelta(seconds=1), ten)
        assert alerts.is_escalated(event, f.T0 + ten, ten)  # received 3 h later: the start is what counts
        user = s.get(User, duty)
        assert user is not None
        first = alerts.acknowledge(s, event, Actor(user, "127.0.0.1", f.T0 + ten), "收到")
        again = alerts.acknowledge(s, event, Actor(user, "127.0.0.1", f.T0 + 2 * ten), "again")
        assert first.created and not again.created and again.ack.id == first.ack.id
        assert not alerts.is_escalated(event, f.T0 + 3 * ten, ten)
        assert s.scalar(select(func.count()).select_from(AlertAck)) == 1


def test_leave_decisions_follow_the_transitions_and_record_who(db: Database) -> None:
    register(db)  # the hall and its windows
    staff_id = add_clerk(db, "w01", f.T0, f.T0 + timedelta(hours=8))
    chief = _user(db, "chief", Role.SUPERVISOR)
    with db.session() as s:
        user = s.get(User, chief)
        assert user is not None
        who = Actor(user, None, f.T0)
        rows = [leave.create_leave(s, who, staff_id=staff_id, type_=LeaveType.SICK, start=f.T0 + timedelta(days=d),
                                   end=f.T0 + timedelta(days=d, hours=2), reason=" 发烧 ", policy=LeavePolicy(),
                                   grace=GRACE) for d in (1, 2)]
        assert rows[0].reason == "发烧"
        leave.decide_leave(s, rows[0], LeaveStatus.APPROVED, who, GRACE)
        with pytest.raises(Conflict):
            leave.decide_leave(s, rows[0], LeaveStatus.REJECTED, who, GRACE)  # decided already
        leave.decide_leave(s, rows[0], LeaveStatus.CANCELLED, who, GRACE)  # an approved leave can be withdrawn
        leave.decide_leave(s, rows[1], LeaveStatus.REJECTED, who, GRACE)
        with pytest.raises(Conflict):
            leave.decide_leave(s, rows[1], LeaveStatus.PENDING, who, GRACE)  # not a decision
    with db.session() as s:
        got = {r.id: (r.status, r.approved_by, r.rejected_by) for r in s.scalars(select(LeaveRecord))}
    assert got == {rows[0].id: (LeaveStatus.CANCELLED, chief, None), rows[1].id: (LeaveStatus.REJECTED, None, chief)}
