"""The hand-made month through the real database (SQLite here, PostgreSQL with CW_TEST_DATABASE=postgresql):
seeded as records, read back by the loader, and served by the API to the roles that may read it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI

from dashboard.db.engine import Database
from dashboard.enums import Role
from dashboard.reports.loader import load_month_input
from dashboard.reports.model import MonthReport
from dashboard.reports.monthly import build_month
from dashboard.reports.schedule import parse_schedule
from dashboard.reports.seed import latest, seed_month
from tests.reports.fixture_month import SCHEDULE, fixture_month
from tests.reports.test_fixture_month import EXPECTED_CLERKS, EXPECTED_WINDOWS

pytestmark = [pytest.mark.db, pytest.mark.integration]

BUCKETS = ("scheduled", "present", "approved_leave", "notice_on_time", "notice_late", "unexcused", "unobserved")

# The fixture's schedule, as the YAML file an operator would write.
SCHEDULE_YAML = """
timezone: Asia/Shanghai
weekly:
  1: [["09:00", "12:00"], ["13:30", "17:00"]]
  2: [["09:00", "12:00"], ["13:30", "17:00"]]
  3: [["09:00", "12:00"], ["13:30", "17:00"]]
  4: [["09:00", "12:00"], ["13:30", "17:00"]]
  5: [["09:00", "12:00"], ["13:30", "17:00"]]
  6: [["09:00", "12:00"]]
holidays: [2026-11-04]
special_days:
  2026-11-06: [["22:00", "01:00"]]
"""


def without_rulings() -> Any:
    """The database has no table for supervisors' absence rulings: the fixture without u1."""
    return fixture_month().model_copy(update={"rulings": ()})


def numbers(report: MonthReport) -> dict[str, Any]:
    """Everything but the record ids (which the database assigns)."""
    emp = {c.staff_id: c.employee_no for c in report.clerks}
    return {
        "days": [
            (emp[d.staff_id], d.date, d.day_type, d.windows,
             tuple(getattr(d.attendance, b).seconds for b in BUCKETS),
             d.arrival.status, d.arrival.at, d.arrival.seconds, d.departure.status, d.departure.at,
             d.departure.seconds, {k: v.count for k, v in d.violations.items()})
            for d in report.days
        ],
        "absences": [(emp[a.staff_id], a.start, a.end, a.window_id, a.classification) for a in report.absences],
        "clerks": [(c.employee_no, c.name, tuple(getattr(c.attendance, b).seconds for b in BUCKETS),
                    c.late.count, c.early.count, c.points.suggested) for c in report.clerks],
        "windows": [(w.window_id, tuple(getattr(w.attendance, b).seconds for b in BUCKETS), w.unrostered.seconds,
                     {k: v.count for k, v in w.violations.items()}) for w in report.windows],
        "violations": [(v.event_id, v.rule, v.window_id, emp.get(v.staff_id or ""), v.service_date)
                       for v in report.violations],
    }


def test_schedule_yaml_is_the_fixture_schedule() -> None:
    parsed = parse_schedule(SCHEDULE_YAML, timezone="UTC", notice_grace=SCHEDULE.notice_grace)
    assert parsed == SCHEDULE


def test_loader_reads_back_what_was_seeded(db: Database) -> None:
    data = without_rulings()
    with db.session() as s:
        seed_month(s, data)
    with db.session() as s:
        loaded = load_month_input(s, site_id="hall1", year=2026, month=11, schedule=SCHEDULE, now=latest(data))
    assert len(loaded.presence) == len(data.presence)
    assert len(loaded.notices) == len(data.notices) and len(loaded.leaves) == len(data.leaves)
    assert numbers(build_month(loaded)) == numbers(build_month(data))
    # Without the ruling, A's 45 min away on the 5th fall to the notice n3 that was registered late.
    a5 = next(d for d in build_month(loaded).days if d.date.day == 5 and d.windows == ("W1",))
    assert (a5.attendance.approved_leave.minutes, a5.attendance.notice_late.minutes) == (30, 45)


def test_drill_down_ids_are_database_ids(db: Database) -> None:
    data = without_rulings()
    with db.session() as s:
        seeded = seed_month(s, data)
    with db.session() as s:
        report = build_month(load_month_input(s, site_id="hall1", year=2026, month=11, schedule=SCHEDULE,
                                              now=latest(data)))
    a = report.clerk(str(seeded.staff["s-a"]))
    assert a.employee_no == "001"
    assert a.violations["eating"].refs == {"event": ("e3",)}
    presence_ids = {int(i) for i in a.attendance.present.refs["presence"]}
    from dashboard.db import models as m

    with db.session() as s:
        rows = s.query(m.PresenceInterval).filter(m.PresenceInterval.id.in_(presence_ids)).all()
        assert rows and all(r.state.value == "present" for r in rows)


@pytest.fixture
def seeded_app(app: FastAPI, settings: Any) -> FastAPI:
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    (Path(settings.state_dir) / "service_schedule.yaml").write_text(SCHEDULE_YAML, encoding="utf-8")
    data = without_rulings()
    with app.state.ctx.db.session() as s:
        seed_month(s, data, site_id=settings.site.site_id)
    return app


def test_api_json_xlsx_csv(seeded_app: FastAPI, api: Any) -> None:
    viewer = api.client(Role.VIEWER)
    r = viewer.get("/api/v1/reports/monthly", params={"year": 2026, "month": 11})
    assert r.status_code == 200, r.text
    body = r.json()
    clerks = {c["employee_no"]: c for c in body["clerks"]}
    # B and C are untouched by the missing ruling: the hand-computed month totals hold.
    for emp, staff in (("002", "s-b"), ("003", "s-c")):
        got = tuple(clerks[emp]["attendance"][b]["minutes"] for b in BUCKETS)
        assert got == EXPECTED_CLERKS[staff]["minutes"]
    w2 = next(w for w in body["windows"] if w["window_id"] == "W2")
    assert tuple(w2["attendance"][b]["minutes"] for b in BUCKETS) == EXPECTED_WINDOWS["W2"]["minutes"]
    assert body["on_post_rate_definition"].startswith("在岗率")
    assert clerks["003"]["violations"]["slippers"]["refs"] == {"event": ["e6"]}
    slim = viewer.get("/api/v1/reports/monthly", params={"year": 2026, "month": 11, "refs": "false"})
    assert slim.status_code == 200 and '"refs"' not in slim.text
    assert slim.json()["clerks"][2]["attendance"]["present"]["minutes"] == 690

    r = api.client(Role.SUPERVISOR).get("/api/v1/reports/monthly.xlsx", params={"year": 2026, "month": 11})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="attendance-hall1-2026-11.xlsx"' in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb["窗口月度汇总 Window totals"]["C4"].value == 1560  # W2 scheduled minutes

    r = api.client(Role.ADMIN).get("/api/v1/reports/monthly.csv",
                                   params={"year": 2026, "month": 11, "view": "violations"})
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[1] for row in rows[1:]] == ["e4", "e1", "e2", "e3", "e5", "e6", "e8"]

    page = viewer.get("/reports/monthly", params={"year": 2026, "month": 11})
    assert page.status_code == 200 and "<svg" in page.text and "考勤核对" in page.text


def test_api_roles_and_bad_input(seeded_app: FastAPI, api: Any, client: Any) -> None:
    assert client.get("/api/v1/reports/monthly").status_code == 401
    assert api.client(Role.DUTY).get("/api/v1/reports/monthly").status_code == 403
    viewer = api.client(Role.VIEWER)
    assert viewer.get("/api/v1/reports/monthly", params={"year": 2026}).status_code == 422
    assert viewer.get("/api/v1/reports/monthly", params={"year": 2026, "month": 13}).status_code == 422
    assert viewer.get("/api/v1/reports/monthly.csv", params={"view": "nope"}).status_code == 422
    assert viewer.get("/api/v1/reports/monthly", params={"year": 2026, "month": 11, "site": "nowhere"}
                      ).status_code == 404
