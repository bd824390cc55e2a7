"""The API and the pages are one house: each action, driven through both, leaves the same records.

These were four divergences (issue "One house"): escalation timed from different clocks, a repeated
acknowledgement adding a row in one and not the other, a confirmation's reason kept in one and cleared in
the other, and a rejected leave recording its rejecter as the approver on the page.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from broker.payloads import Rule
from dashboard.db.models import AlertAck, LeaveRecord, Review
from dashboard.enums import LeaveStatus, Role
from tests.dashboard import factories as f
from tests.dashboard.conftest import api, app, settings  # noqa: F401  (fixtures)
from tests.dashboard.helpers import ApiUsers, add_clerk
from tests.web.support import csrf, database, ingest_event, page_client, user_id

pytestmark = [pytest.mark.integration, pytest.mark.db]


def _page_rows(html: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r'<tr id="alert-[^"]+" data-pk="(\d+)"[^>]*>', html)}


def test_escalation_is_timed_from_when_it_happened_in_the_api_and_on_the_page(
    app: FastAPI, api: ApiUsers,  # noqa: F811
) -> None:
    minutes = app.state.ctx.settings.escalation_minutes
    # Held in the edge's outbox: it happened long ago and arrived just now. Overdue the moment it lands.
    late = ingest_event(app, "evt-backlog1", started_ago=timedelta(minutes=minutes + 3))
    # The reverse (stored long ago, started recently) must not escalate either: received_at is not the clock.
    recent = ingest_event(app, "evt-recent01", started_ago=timedelta(minutes=1),
                          received_ago=timedelta(minutes=minutes + 3), rule=Rule.PHONE_USE)
    listed = {a["event_id"]: a["escalated"] for a in api.client(Role.SUPERVISOR).get("/api/v1/alerts").json()["items"]}
    assert listed == {"evt-backlog1": True, "evt-recent01": False}
    chief = page_client(app, "chief", Role.SUPERVISOR)
    rows = _page_rows(chief.get("/alerts").text)
    assert "is-escalated" in rows[late] and "is-escalated" not in rows[recent]
    escalated_only = _page_rows(chief.get("/alerts", params={"status": "escalated"}).text)
    assert set(escalated_only) == {late}


def test_a_repeated_acknowledgement_keeps_the_first_through_either_door(
    app: FastAPI, api: ApiUsers,  # noqa: F811
) -> None:
    first_api = ingest_event(app, "evt-ackapi01")
    first_page = ingest_event(app, "evt-ackpage1", rule=Rule.PHONE_USE)
    duty_api = api.client(Role.DUTY)
    desk = page_client(app, "desk", Role.DUTY)
    chief = page_client(app, "chief", Role.SUPERVISOR)

    # API, API again, then the page: one row, the first note, the same answer each time through the API.
    one = duty_api.post("/api/v1/events/evt-ackapi01/ack", json={"note": "已通知窗口"})
    two = duty_api.post("/api/v1/events/evt-ackapi01/ack", json={"note": "again"})
    assert one.status_code == two.status_code == 201
    assert one.json() == two.json()
    r = chief.post(f"/alerts/{first_api}/ack", data={"note": "page", "csrf_token": csrf(chief)},
                   headers={"X-Requested-With": "fetch"})
    assert r.status_code == 200 and "duty-user" in r.text  # the row shows who acknowledged first

    # The page first, then the page again and the API: the API answers with the page's acknowledgement.
    for note in (" 已处理 ", "x"):
        assert desk.post(f"/alerts/{first_page}/ack", data={"note": note, "csrf_token": csrf(desk)}).status_code == 303
    later = api.client(Role.SUPERVISOR).post("/api/v1/events/evt-ackpage1/ack", json={"note": "late"})
    assert later.status_code == 201
    assert later.json()["user_id"] == user_id(app, "desk") and later.json()["note"] == "已处理"

    with database(app).session() as s:
        acks = {pk: [(a.user_id, a.note) for a in s.scalars(select(AlertAck).where(AlertAck.event_pk == pk))]
                for pk in (first_api, first_page)}
    assert acks == {first_api: [(user_id(app, "duty-user"), "已通知窗口")],
                    first_page: [(user_id(app, "desk"), "已处理")]}


def test_confirming_keeps_the_reason_given_in_the_api_and_on_the_page(
    app: FastAPI, api: ApiUsers,  # noqa: F811
) -> None:
    by_api = ingest_event(app, "evt-confapi1", ended=True)
    by_page = ingest_event(app, "evt-confpag1", ended=True, rule=Rule.PHONE_USE)
    plain = ingest_event(app, "evt-confnone", ended=True, rule=Rule.EATING)
    r = api.client(Role.SUPERVISOR).post("/api/v1/events/evt-confapi1/reviews",
                                         json={"verdict": "confirm", "reason": "other", "note": "核实"})
    assert r.status_code == 201 and r.json()["reason"] == "other"
    chief = page_client(app, "chief", Role.SUPERVISOR)
    for pk, reason in ((by_page, "excused"), (plain, "")):
        r = chief.post(f"/review/{pk}", data={"verdict": "confirm", "reason": reason, "note": "核实",
                                              "csrf_token": csrf(chief)})
        assert r.status_code == 303
    with database(app).session() as s:
        kept = {pk: (rv.verdict.value, rv.reason.value if rv.reason else None, rv.note)
                for pk, rv in ((rv.event_pk, rv) for rv in s.scalars(select(Review)))}
    assert kept == {by_api: ("confirm", "other", "核实"), by_page: ("confirm", "excused", "核实"),
                    plain: ("confirm", None, "核实")}
    # Both doors show it the same way: the API's history and the page's verdict line.
    history = api.client(Role.VIEWER).get("/api/v1/events/evt-confpag1/reviews").json()
    assert [(h["verdict"], h["reason"]) for h in history] == [("confirm", "excused")]
    page = chief.get(f"/review/{by_api}", params={"status": "reviewed"}).text
    verdict_line = page[page.index('id="verdict-result"'):]
    assert "其他" in verdict_line[:verdict_line.index("</p>")]  # the API's confirmation, with its reason


def test_a_rejected_leave_records_who_rejected_it_not_an_approver(
    app: FastAPI, api: ApiUsers,  # noqa: F811
) -> None:
    staff_id = add_clerk(database(app), "w01", f.T0 - timedelta(hours=1), f.T0 + timedelta(hours=8))
    supervisor = api.client(Role.SUPERVISOR)

    def new_leave(day: int) -> int:
        start = f.T0 + timedelta(days=day)
        r = supervisor.post("/api/v1/leave", json={"staff_id": staff_id, "type": "personal",
                                                   "start": start.isoformat(),
                                                   "end": (start + timedelta(hours=4)).isoformat()})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    via_api, via_page, approved_on_page = new_leave(1), new_leave(2), new_leave(3)
    r = supervisor.post(f"/api/v1/leave/{via_api}/reject")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "rejected" and body["rejected_by"] == user_id(app, "supervisor-user")
    assert body["approved_by"] is None and body["approved_at"] is None and body["rejected_at"] is not None

    chief = page_client(app, "chief", Role.SUPERVISOR)
    for leave_id, decision in ((via_page, "rejected"), (approved_on_page, "approved")):
        r = chief.post(f"/leave/{leave_id}/decision", data={"decision": decision, "csrf_token": csrf(chief)})
        assert r.status_code == 303
    # A decided leave cannot be decided again, through either door.
    assert supervisor.post(f"/api/v1/leave/{via_page}/approve").status_code == 409
    assert chief.post(f"/leave/{via_api}/decision", data={"decision": "approved",
                                                          "csrf_token": csrf(chief)}).status_code == 422

    chief_id = user_id(app, "chief")
    with database(app).session() as s:
        rows = {r.id: (r.status, r.approved_by, r.rejected_by) for r in s.scalars(select(LeaveRecord))}
    assert rows == {via_api: (LeaveStatus.REJECTED, None, user_id(app, "supervisor-user")),
                    via_page: (LeaveStatus.REJECTED, None, chief_id),
                    approved_on_page: (LeaveStatus.APPROVED, chief_id, None)}
    listed = {x["id"]: x["rejected_by"] for x in supervisor.get("/api/v1/leave").json()["items"]}
    assert listed[via_page] == chief_id
    page = chief.get("/leave").text
    row = page[page.index(f'id="leave-{via_page}"'):]
    assert "chief-显示名" in row[:row.index("</tr>")]  # the page names the rejecter on the rejected row
