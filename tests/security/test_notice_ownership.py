"""Off-post notices are changed by the person who registered them, or by a supervisor / admin: the API's
PATCH and the page's edit form make the same check (dashboard.services.notices)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from dashboard.db.models import AuditLog, OffPostNotice, utcnow
from dashboard.enums import Role
from tests.dashboard.helpers import ApiUsers, add_clerk
from tests.web.support import csrf, database, page_client, user_id

pytestmark = [pytest.mark.integration, pytest.mark.db]


def _clerk(app: FastAPI) -> int:
    now = utcnow()
    return add_clerk(database(app), "w01", now - timedelta(hours=1), now + timedelta(hours=8))


def _minutes_away(app: FastAPI, notice_id: int) -> float:
    with database(app).session() as s:
        row = s.get(OffPostNotice, notice_id)
        assert row is not None
        return (row.expected_return - row.left_at).total_seconds() / 60


def test_through_the_api_only_the_author_or_a_supervisor_changes_a_notice(
    app: FastAPI, api: ApiUsers,
) -> None:
    staff_id = _clerk(app)
    left = utcnow()
    author = api.client(Role.DUTY)
    r = author.post("/api/v1/notices", json={"staff_id": staff_id, "reason": "送件", "left_at": left.isoformat(),
                                             "expected_return": (left + timedelta(minutes=10)).isoformat()})
    assert r.status_code == 201, r.text
    notice_id = r.json()["id"]
    other_duty = page_client(app, "desk2", Role.DUTY)  # another duty officer, through the same API with a cookie
    r = other_duty.patch(f"/api/v1/notices/{notice_id}", headers={"X-CSRF-Token": csrf(other_duty)},
                         json={"expected_return": (left + timedelta(minutes=90)).isoformat(), "reason": "改"})
    assert r.status_code == 403
    assert _minutes_away(app, notice_id) == 10  # nothing changed
    assert api.client(Role.VIEWER).patch(f"/api/v1/notices/{notice_id}", json={"reason": "x"}).status_code == 403
    for who, minutes in ((author, 20), (api.client(Role.SUPERVISOR), 25), (api.client(Role.ADMIN), 30)):
        r = who.patch(f"/api/v1/notices/{notice_id}",
                      json={"expected_return": (left + timedelta(minutes=minutes)).isoformat()})
        assert r.status_code == 200, r.text
        assert _minutes_away(app, notice_id) == minutes
    with database(app).session() as s:
        actors = [a.actor for a in s.scalars(select(AuditLog).where(AuditLog.entity == "notice",
                                                                     AuditLog.action == "update"))]
    assert actors == ["duty-user", "supervisor-user", "admin-user"]


def test_on_the_page_only_the_author_or_a_supervisor_changes_a_notice(app: FastAPI, api: ApiUsers) -> None:
    staff_id = _clerk(app)
    author = page_client(app, "desk", Role.DUTY)
    r = author.post("/notices", data={"staff_id": staff_id, "reason": "取材料", "minutes": "15",
                                      "csrf_token": csrf(author)})
    assert r.status_code == 303
    with database(app).session() as s:
        notice = s.scalars(select(OffPostNotice)).one()
        notice_id = notice.id
        assert notice.created_by == user_id(app, "desk")
    edit_form = f'action="/notices/{notice_id}"'
    assert edit_form in author.get("/leave").text  # the author sees the edit form...
    other = page_client(app, "desk2", Role.DUTY)
    assert edit_form not in other.get("/leave").text  # ...another duty officer does not...
    r = other.post(f"/notices/{notice_id}", data={"minutes": "120", "csrf_token": csrf(other)})
    assert r.status_code == 403 and "无权访问" in r.text  # ...and cannot post it either
    assert _minutes_away(app, notice_id) == 15
    viewer = page_client(app, "look", Role.VIEWER)
    assert viewer.post(f"/notices/{notice_id}", data={"minutes": "120", "csrf_token": csrf(viewer)}).status_code == 403
    for who, minutes in ((author, 20), (page_client(app, "chief", Role.SUPERVISOR), 40)):
        assert edit_form in who.get("/leave").text
        r = who.post(f"/notices/{notice_id}", data={"minutes": str(minutes), "csrf_token": csrf(who)})
        assert r.status_code == 303
        assert _minutes_away(app, notice_id) == minutes
    # Same house: the page's author may change it through the API too; another duty token may not.
    r = api.client(Role.DUTY).patch(f"/api/v1/notices/{notice_id}", json={"reason": "改"})
    assert r.status_code == 403
    r = author.patch(f"/api/v1/notices/{notice_id}", headers={"X-CSRF-Token": csrf(author)}, json={"reason": "改了"})
    assert r.status_code == 200 and r.json()["reason"] == "改了"
