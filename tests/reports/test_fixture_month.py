"""The hand-made month (fixture_month.py) reproduced exactly, cell by cell: the report, the XLSX opened with
openpyxl and the CSV parsed back. Every expected number below was worked out on paper from the fixture;
the arithmetic is in the comments. Times are Shanghai wall-clock; minutes unless said otherwise."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest

from dashboard.reports.export import to_csv, to_xlsx
from dashboard.reports.model import DayType, MonthReport, Punctual
from dashboard.reports.monthly import build_month
from tests.reports.fixture_month import TZ, A, B, C, fixture_month

NOV = 11
BUCKETS = ("scheduled", "present", "approved_leave", "notice_on_time", "notice_late", "unexcused", "unobserved")


def d(day: int) -> date:
    return date(2026, NOV, day)


# (clerk, day) -> expected row. Buckets: scheduled, present, approved_leave, notice_on_time, notice_late,
# unexcused, unobserved. arrival/departure: (status, local "DD HH:MM" or None, late/early minutes).
EXPECTED_DAYS: dict[tuple[str, int], dict[str, Any]] = {
    # Mon 2 Nov, A at W1. Scheduled 09:00–12:00 (180) + 13:30–17:00 (210) = 390.
    # Present 09:00–10:20 (80) + 10:50–12:00 (70) + 13:30–16:40 (190) = 340.
    # Away 10:20–10:50 = 30, notice n1 registered 10:18 before its 10:20 start -> on time.
    # Away 16:40–17:00 = 20, no notice -> unexcused. 340 + 30 + 20 = 390. Rate 340 / 390.
    # In place at 08:50? p2 present since 08:45 -> on time, arrived 08:45. At 16:59 away -> left 16:40,
    # early by 17:00 − 16:40 = 20.
    (A, 2): dict(windows=("W1",), minutes=(390, 340, 0, 30, 0, 20, 0), rate=340 / 390,
                 arrival=("on_time", "02 08:45", 0), departure=("early", "02 16:40", 20), violations={}),
    # Tue 3 Nov, roster swap at 11:00. A: W1 09:00–11:00 (120) then W2 11:00–12:00 (60) + 13:30–17:00 (210)
    # = 390. Present W1 09:00–11:00 = 120 (p11 from 08:55); W2 11:00–12:00 = 60, 13:30–14:00 = 30,
    # 14:45–17:00 = 135 -> 120 + 60 + 30 + 135 = 345. W2 camera offline 14:00–14:45 = 45 unobserved.
    # 345 + 45 = 390. Rate 345 / (390 − 45) = 1.
    # At 08:50 W1 is seen empty (p10) -> late; first presence 08:55 -> late by 5. At 16:59 present at W2
    # (p20 until 17:20) -> on time, left 17:20.
    (A, 3): dict(windows=("W1", "W2"), minutes=(390, 345, 0, 0, 0, 0, 45), rate=1.0,
                 arrival=("late", "03 08:55", 5), departure=("on_time", "03 17:20", 0), violations={}),
    # Thu 5 Nov, A at W1: present 09:00–09:40 (40) + 10:25–12:00 (95) + 13:30–16:30 (180) = 315.
    # Away 09:40–10:25 = 45: ruling u1 says approved leave (beats late notice n3); leave l2 16:30–17:00 = 30.
    # Approved leave 45 + 30 = 75; 315 + 75 = 390. Rate 315 / (390 − 75) = 1.
    # Present at 08:50 (p22 from 08:30) -> on time 08:30. Duty ends at 16:30 (leave l2); present until
    # 16:30 -> on time, left 16:30. Violations: e1 absence > 30 min, e2 phone (both attributed via the
    # roster), e3 eating (named by the reviewer).
    (A, 5): dict(windows=("W1",), minutes=(390, 315, 75, 0, 0, 0, 0), rate=1.0,
                 arrival=("on_time", "05 08:30", 0), departure=("on_time", "05 16:30", 0),
                 violations={"absence_over_30min": 1, "phone_use": 1, "eating": 1}),
    # Fri 6 Nov, night session 22:00–01:00 = 180. Present 22:00–00:40 = 160, away 00:40–01:00 = 20
    # unexcused. Rate 160 / 180. In place at 21:50 (p40 from 21:45) -> on time 21:45; left 00:40 (on the
    # 7th), early by 20.
    (A, 6): dict(windows=("W1",), minutes=(180, 160, 0, 0, 0, 20, 0), rate=160 / 180,
                 arrival=("on_time", "06 21:45", 0), departure=("early", "07 00:40", 20), violations={}),
    # Mon 2 Nov, B at W2, on leave l1 (30 Oct 08:00 – 3 Nov 00:00): all 390 approved leave; no duty left.
    (B, 2): dict(windows=("W2",), minutes=(390, 0, 390, 0, 0, 0, 0), rate=None,
                 arrival=("on_leave", None, 0), departure=("on_leave", None, 0), violations={}),
    # Thu 5 Nov, B at W2: present 09:12–11:00 (108) + 11:20–12:00 (40) + 13:30–15:00 (90) + 15:30–16:50
    # (80) = 318. Away 09:00–09:12 (12) + 16:50–17:00 (10) = 22 unexcused. Sign up 11:00–11:20 = 20,
    # notice n4 registered 11:02 (≤ 11:00 + 5 min grace) -> on time. 15:00–15:30 no record = 30 unobserved.
    # 318 + 22 + 20 + 30 = 390. Rate 318 / (390 − 30) = 318 / 360.
    # At 08:50 away -> late, first presence 09:12: late by 22. At 16:59 away -> left 16:50, early by 10.
    (B, 5): dict(windows=("W2",), minutes=(390, 318, 0, 20, 0, 22, 30), rate=318 / 360,
                 arrival=("late", "05 09:12", 22), departure=("early", "05 16:50", 10),
                 violations={"customer_waiting_unattended": 1, "unattended_no_sign": 1}),
    # Mon 30 Nov, B at W1, seen away all day: 390 unexcused, rate 0, never arrived.
    (B, 30): dict(windows=("W1",), minutes=(390, 0, 0, 0, 0, 390, 0), rate=0.0,
                  arrival=("absent", None, 0), departure=("absent", None, 0), violations={}),
    # Tue 3 Nov, C: W2 09:00–11:00 (120) then W1 11:00–12:00 (60) + 13:30–17:00 (210) = 390.
    # Present W2 09:00–09:30 (30) + 10:00–11:00 (60); W1 11:00–11:40 (40) + 13:30–17:00 (210) = 340.
    # Away W2 09:30–10:00 = 30 unexcused; W1 11:40–12:00 = 20, notice n2 registered 11:50 > 11:40 + 5
    # -> late. 340 + 30 + 20 = 390. Rate 340 / 390. In place at 08:50 (p16 since 08:20) -> on time 08:20;
    # present at 16:59 at W1 (p13 until 17:10) -> left 17:10.
    (C, 3): dict(windows=("W2", "W1"), minutes=(390, 340, 0, 0, 20, 30, 0), rate=340 / 390,
                 arrival=("on_time", "03 08:20", 0), departure=("on_time", "03 17:10", 0), violations={}),
    # Sat 7 Nov, C at W1 09:00–12:00 = 180: present 09:00–11:50 = 170, away 11:50–12:00 = 10 unexcused.
    # Rate 170 / 180. Camera offline at 08:50 -> arrival unknown. Left 11:50, early by 10. Slippers (e6).
    (C, 7): dict(windows=("W1",), minutes=(180, 170, 0, 0, 0, 10, 0), rate=170 / 180,
                 arrival=("unknown", None, 0), departure=("early", "07 11:50", 10), violations={"slippers": 1}),
    # Mon 30 Nov, C at W2: present 09:00–12:00 = 180; leave l3 from 13:30 covers 13:30–17:00 = 210.
    # Rate 180 / (390 − 210) = 1. Arrived 08:40; duty ends 12:00, present until 12:03 -> on time.
    (C, 30): dict(windows=("W2",), minutes=(390, 180, 210, 0, 0, 0, 0), rate=1.0,
                  arrival=("on_time", "30 08:40", 0), departure=("on_time", "30 12:03", 0), violations={}),
}

# November 2026: Wed 4 is a holiday; Sundays 1, 8, 15, 22, 29 are closed; every other day is open.
HOLIDAYS = {4}
CLOSED = {1, 8, 15, 22, 29}


def local(day_hhmm: str | None) -> datetime | None:
    if day_hhmm is None:
        return None
    day, hhmm = day_hhmm.split()
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(2026, NOV, int(day), hour, minute)


@pytest.fixture(scope="module")
def report() -> MonthReport:
    return build_month(fixture_month())


def test_every_day_of_every_clerk(report: MonthReport) -> None:
    assert len(report.days) == 3 * 30
    for staff in (A, B, C):
        for day in range(1, 31):
            row = report.day(staff, d(day))
            expected_type = (
                DayType.HOLIDAY if day in HOLIDAYS else DayType.CLOSED if day in CLOSED else DayType.OPEN
            )
            assert row.day_type is expected_type, (staff, day)
            exp = EXPECTED_DAYS.get((staff, day))
            a = row.attendance
            got = tuple(getattr(a, b).seconds for b in BUCKETS)
            if exp is None:  # not rostered (or a holiday): nothing at all
                assert got == (0,) * 7, (staff, day)
                assert a.on_post_rate is None
                assert row.arrival.status is Punctual.OFF and row.departure.status is Punctual.OFF
                assert row.absences == ()
                assert all(v.count == 0 for v in row.violations.values())
                continue
            assert row.windows == exp["windows"], (staff, day)
            assert got == tuple(m * 60 for m in exp["minutes"]), (staff, day)
            assert a.on_post_rate == pytest.approx(exp["rate"]) if exp["rate"] is not None else a.on_post_rate is None
            for which in ("arrival", "departure"):
                status, when, minutes = exp[which]
                p = getattr(row, which)
                assert p.status.value == status, (staff, day, which)
                got_at = None if p.at is None else p.at.astimezone(TZ).replace(tzinfo=None)
                assert got_at == local(when), (staff, day, which)
                assert p.seconds == minutes * 60, (staff, day, which)
            assert {k: v.count for k, v in row.violations.items() if v.count} == exp["violations"], (staff, day)


def test_drill_down_refs(report: MonthReport) -> None:
    a2 = report.day(A, d(2)).attendance
    assert a2.scheduled.refs == {"roster": ("r1",)}
    assert a2.present.refs == {"presence": ("p2", "p4", "p6")}
    assert a2.notice_on_time.refs == {"notice": ("n1",), "presence": ("p3",)}
    assert a2.unexcused.refs == {"presence": ("p7",)}
    a3 = report.day(A, d(3))
    assert a3.attendance.scheduled.refs == {"roster": ("r3", "r4")}
    assert a3.attendance.unobserved.refs == {"presence": ("p19",)}
    assert a3.arrival.refs == {"presence": ("p10", "p11")}  # seen away at 08:50, then arriving
    assert report.day(B, d(2)).attendance.approved_leave.refs == {"leave": ("l1",), "presence": ("p8",)}
    # Missing data has no record to link to; the unobserved 30 min of B on the 5th carry no presence id.
    assert report.day(B, d(5)).attendance.unobserved.refs == {}
    assert report.day(A, d(5)).attendance.approved_leave.refs == {
        "leave": ("l2",), "presence": ("p23", "p25"), "ruling": ("u1",),
    }
    assert report.day(A, d(5)).violations["phone_use"].refs == {"event": ("e2",)}
    assert report.clerk(A).violations["eating"].refs == {"event": ("e3",)}
    assert report.clerk(A).late.refs == {"presence": ("p10", "p11")}
    assert report.clerk(A).attendance.scheduled.refs == {"roster": ("r1", "r14", "r3", "r4", "r8")}
    assert report.window("W2").attendance.unobserved.refs == {"presence": ("p19",)}


# (clerk, day, window, local start, local end, classification, refs) — one per merged absence.
EXPECTED_ABSENCES = [
    (A, 2, "W1", "02 10:20", "02 10:50", "notice_on_time", {"notice": ("n1",), "presence": ("p3",)}),
    (A, 2, "W1", "02 16:40", "02 17:00", "unexcused", {"presence": ("p7",)}),
    (A, 5, "W1", "05 09:40", "05 10:25", "approved_leave", {"presence": ("p23",), "ruling": ("u1",)}),
    (A, 5, "W1", "05 16:30", "05 17:00", "approved_leave", {"leave": ("l2",), "presence": ("p25",)}),
    (A, 6, "W1", "07 00:40", "07 01:00", "unexcused", {"presence": ("p41",)}),  # the night session
    (B, 2, "W2", "02 09:00", "02 12:00", "approved_leave", {"leave": ("l1",), "presence": ("p8",)}),
    (B, 2, "W2", "02 13:30", "02 17:00", "approved_leave", {"leave": ("l1",), "presence": ("p8",)}),
    (B, 5, "W2", "05 09:00", "05 09:12", "unexcused", {"presence": ("p26",)}),
    (B, 5, "W2", "05 11:00", "05 11:20", "notice_on_time", {"notice": ("n4",), "presence": ("p28",)}),
    (B, 5, "W2", "05 16:50", "05 17:00", "unexcused", {"presence": ("p32",)}),
    (B, 30, "W1", "30 09:00", "30 12:00", "unexcused", {"presence": ("p36",)}),
    (B, 30, "W1", "30 13:30", "30 17:00", "unexcused", {"presence": ("p36",)}),
    (C, 3, "W2", "03 09:30", "03 10:00", "unexcused", {"presence": ("p17",)}),
    (C, 3, "W1", "03 11:40", "03 12:00", "notice_late", {"notice": ("n2",), "presence": ("p12",)}),
    (C, 7, "W1", "07 11:50", "07 12:00", "unexcused", {"presence": ("p35",)}),
    (C, 30, "W2", "30 13:30", "30 17:00", "approved_leave", {"leave": ("l3",), "presence": ("p39",)}),
]


def test_absence_intervals(report: MonthReport) -> None:
    got = [
        (a.staff_id, a.service_date.day, a.window_id, a.start.astimezone(TZ).strftime("%d %H:%M"),
         a.end.astimezone(TZ).strftime("%d %H:%M"), a.classification.value, a.refs)
        for a in report.absences
    ]
    assert got == EXPECTED_ABSENCES


# Month totals per clerk = sums of the day rows above.
EXPECTED_CLERKS: dict[str, dict[str, Any]] = {
    # scheduled 390 + 390 + 390 + 180 = 1350; present 340 + 345 + 315 + 160 = 1160; approved 75;
    # on time 30; unexcused 20 + 20 = 40; unobserved 45 (1160 + 75 + 30 + 40 + 45 = 1350).
    # Rate 1160 / (1350 − 75 − 45) = 1160 / 1230. Late 1 day (5 min); early 2 days (20 + 20 = 40 min).
    # Points: rate 94.3 % -> 0; 3 violations -> −3; 1 late + 2 early = 3 -> −1 => −4; override +3.
    A: dict(windows=("W1", "W2"), minutes=(1350, 1160, 75, 30, 0, 40, 45), rate=1160 / 1230,
            days_on_duty=4, days_present=4, late=(1, 5), early=(2, 40), absent_days=0,
            violations={"absence_over_30min": 1, "phone_use": 1, "eating": 1}, points=(-4, 3, 3)),
    # scheduled 3 × 390 = 1170; present 318; approved 390; on time 20; unexcused 22 + 390 = 412;
    # unobserved 30 (318 + 390 + 20 + 412 + 30 = 1170). Rate 318 / (1170 − 390 − 30) = 318 / 750.
    # Points: rate 42.4 % -> −2; 2 violations -> −2; late + early = 2 -> −1; 1 absent day -> −1 => −6,
    # clamped to −5.
    B: dict(windows=("W2", "W1"), minutes=(1170, 318, 390, 20, 0, 412, 30), rate=318 / 750,
            days_on_duty=3, days_present=1, late=(1, 22), early=(1, 10), absent_days=1,
            violations={"customer_waiting_unattended": 1, "unattended_no_sign": 1}, points=(-5, None, -5)),
    # scheduled 390 + 180 + 390 = 960; present 340 + 170 + 180 = 690; approved 210; late notice 20;
    # unexcused 30 + 10 = 40 (690 + 210 + 20 + 40 = 960). Rate 690 / (960 − 210) = 0.92.
    # Points: rate 92 % -> 0; 1 violation -> −1; 1 early day -> 0 => −1.
    C: dict(windows=("W2", "W1"), minutes=(960, 690, 210, 0, 20, 40, 0), rate=690 / 750,
            days_on_duty=3, days_present=3, late=(0, 0), early=(1, 10), absent_days=0,
            violations={"slippers": 1}, points=(-1, None, -1)),
}


def test_clerk_totals(report: MonthReport) -> None:
    assert [c.staff_id for c in report.clerks] == [A, B, C]
    for staff, exp in EXPECTED_CLERKS.items():
        c = report.clerk(staff)
        assert c.windows == exp["windows"]
        assert tuple(getattr(c.attendance, b).seconds for b in BUCKETS) == tuple(m * 60 for m in exp["minutes"])
        assert c.attendance.on_post_rate == pytest.approx(exp["rate"])
        assert (c.days_on_duty, c.days_present) == (exp["days_on_duty"], exp["days_present"])
        assert (c.late.count, c.late_seconds) == (exp["late"][0], exp["late"][1] * 60)
        assert (c.early.count, c.early_seconds) == (exp["early"][0], exp["early"][1] * 60)
        assert c.absent_days.count == exp["absent_days"]
        assert {k: v.count for k, v in c.violations.items() if v.count} == exp["violations"]
        assert (c.points.suggested, c.points.override, c.points.final) == exp["points"]
    assert report.clerk(A).points.note == "主动服务 helpful"


# Opening hours in November 2026: 19 normal weekdays × 390 (5 Mon + 4 Tue + 3 Wed (4th a holiday) +
# 4 Thu + 3 Fri (6th is the night special)) = 7410, + 180 (night of the 6th) + 4 Sat × 180 = 720 => 8310.
OPEN_MINUTES = 19 * 390 + 180 + 4 * 180
EXPECTED_WINDOWS: dict[str, dict[str, Any]] = {
    # A 2nd 390 + A 3rd 120 + C 3rd 270 + A 5th 390 + A 6th 180 + C 7th 180 + B 30th 390 = 1920.
    # present 340 + 120 + 250 + 315 + 160 + 170 + 0 = 1355; approved 75; on time 30; late notice 20;
    # unexcused 20 + 20 + 10 + 390 = 440. Rate 1355 / (1920 − 75). Unrostered 8310 − 1920 = 6390.
    "W1": dict(minutes=(1920, 1355, 75, 30, 20, 440, 0), rate=1355 / 1845, unrostered=OPEN_MINUTES - 1920,
               violations={"absence_over_30min": 1, "phone_use": 1, "eating": 1, "slippers": 1}),
    # B 2nd 390 + A 3rd 270 + C 3rd 120 + B 5th 390 + C 30th 390 = 1560; present 0 + 225 + 90 + 318 + 180
    # = 813; approved 390 + 210 = 600; on time 20; unexcused 30 + 22 = 52; unobserved 45 + 30 = 75.
    # Rate 813 / (1560 − 600 − 75) = 813 / 885. Violations include e8, attributed to nobody.
    "W2": dict(minutes=(1560, 813, 600, 20, 0, 52, 75), rate=813 / 885, unrostered=OPEN_MINUTES - 1560,
               violations={"customer_waiting_unattended": 1, "unattended_no_sign": 1, "eating": 1}),
}


def test_window_totals(report: MonthReport) -> None:
    assert [w.window_id for w in report.windows] == ["W1", "W2"]
    for window, exp in EXPECTED_WINDOWS.items():
        w = report.window(window)
        assert tuple(getattr(w.attendance, b).seconds for b in BUCKETS) == tuple(m * 60 for m in exp["minutes"])
        assert w.attendance.on_post_rate == pytest.approx(exp["rate"])
        assert w.unrostered.seconds == exp["unrostered"] * 60
        assert {k: v.count for k, v in w.violations.items() if v.count} == exp["violations"]


# In time order; e7 (1 Dec) belongs to December and is left out.
EXPECTED_VIOLATIONS = [
    ("e4", "customer_waiting_unattended", "W2", B, 5),
    ("e1", "absence_over_30min", "W1", A, 5),
    ("e2", "phone_use", "W1", A, 5),
    ("e3", "eating", "W1", A, 5),
    ("e5", "unattended_no_sign", "W2", B, 5),
    ("e6", "slippers", "W1", C, 7),
    ("e8", "eating", "W2", None, 7),  # nobody rostered at W2 on Saturday
]


def test_violations(report: MonthReport) -> None:
    got = [(v.event_id, v.rule, v.window_id, v.staff_id, v.service_date.day) for v in report.violations]
    assert got == EXPECTED_VIOLATIONS


def test_site_days(report: MonthReport) -> None:
    # Mon 2 Nov: A 390 + B 390 = 780 scheduled, 340 present, 390 approved leave -> 340 / 390.
    day2 = report.site_days[1]
    assert day2.date == d(2)
    assert day2.attendance.scheduled.seconds == 780 * 60
    assert day2.attendance.on_post_rate == pytest.approx(340 / 390)
    assert report.site_days[3].day_type is DayType.HOLIDAY and report.site_days[3].attendance.on_post_rate is None


# --- the exports, read back -------------------------------------------------------------------------------

NAMES = {A: ("001", "张三"), B: ("002", "李四"), C: ("003", "王五")}
RULES = ("unattended_no_sign", "absence_over_30min", "slippers", "eating", "phone_use",
         "customer_waiting_unattended")
PUNCT_ZH = {"on_time": "准时", "late": "迟到", "early": "早退", "absent": "未到岗", "unknown": "无法判定",
            "on_leave": "请假"}
WEEKDAY = "一二三四五六日"


def expected_daily_rows() -> list[list[Any]]:
    """The daily sheet: rows with duty (or violations), clerk by clerk, day by day."""
    rows = []
    for staff in (A, B, C):
        for day in range(1, 31):
            exp = EXPECTED_DAYS.get((staff, day))
            if exp is None:
                continue
            arr, dep = exp["arrival"], exp["departure"]
            rows.append([
                d(day), "周" + WEEKDAY[d(day).weekday()], "工作日", *NAMES[staff], staff,
                " ".join(exp["windows"]), *exp["minutes"][:7], exp["rate"],
                PUNCT_ZH[arr[0]], local(arr[1]), arr[2], PUNCT_ZH[dep[0]], local(dep[1]), dep[2],
                *(exp["violations"].get(r, 0) for r in RULES),
            ])
    return rows


DAILY_ZH = ["日期", "星期", "日类型", "工号", "姓名", "人员ID", "窗口", "应在岗(分)", "在岗(分)", "批准请假(分)",
            "按时报备(分)", "逾时报备(分)", "脱岗(分)", "未观测(分)", "在岗率", "到岗", "到岗时间", "迟到(分)",
            "离岗", "离岗时间", "早退(分)", "离岗未摆牌", "离岗超30分钟", "穿拖鞋", "吃东西", "玩手机", "群众等候无人"]


def test_xlsx_round_trip(report: MonthReport, tmp_path: Any) -> None:
    path = tmp_path / "month.xlsx"
    path.write_bytes(to_xlsx(report))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [
        "每日明细 Daily", "人员月度汇总 Clerk totals", "窗口月度汇总 Window totals", "离岗记录 Absences",
        "违规记录 Violations", "说明 Notes",
    ]
    ws = wb["每日明细 Daily"]
    assert ws.freeze_panes == "A3"
    assert [c.value for c in ws[1]] == DAILY_ZH
    assert [c.value for c in ws[2]][:3] == ["Date", "Weekday", "Day type"]
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    want = expected_daily_rows()
    assert len(got) == len(want) == 10
    for g, w in zip(got, want, strict=True):
        assert g[0] == datetime.combine(w[0], datetime.min.time())  # Excel stores dates as datetimes
        assert g[1:14] == w[1:14]
        assert g[14] == (pytest.approx(w[14]) if w[14] is not None else None)
        assert g[15:] == w[15:]
    third = ws[3]
    assert third[0].number_format == "yyyy-mm-dd"
    assert third[7].number_format == "#,##0.0"
    assert third[14].number_format == "0.0%"
    assert third[16].number_format == "yyyy-mm-dd hh:mm"

    ws = wb["人员月度汇总 Clerk totals"]
    assert ws.freeze_panes == "A3"
    clerks = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert [r[:4] for r in clerks] == [["001", "张三", A, "W1 W2"], ["002", "李四", B, "W2 W1"],
                                      ["003", "王五", C, "W2 W1"]]
    for row, staff in zip(clerks, (A, B, C), strict=True):
        exp = EXPECTED_CLERKS[staff]
        assert row[4:6] == [exp["days_on_duty"], exp["days_present"]]
        assert row[6:13] == list(exp["minutes"])
        assert row[13] == pytest.approx(exp["rate"])
        assert row[14:19] == [*exp["late"], *exp["early"], exp["absent_days"]]
        assert row[19:25] == [exp["violations"].get(r, 0) for r in RULES]
        assert row[25] == sum(exp["violations"].values())
        assert tuple(row[26:29]) == exp["points"]

    ws = wb["窗口月度汇总 Window totals"]
    windows = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert [r[:2] for r in windows] == [["W1", "综合受理1号窗"], ["W2", "综合受理2号窗"]]
    for row, window in zip(windows, ("W1", "W2"), strict=True):
        exp = EXPECTED_WINDOWS[window]
        assert row[2:9] == list(exp["minutes"])
        assert row[9] == pytest.approx(exp["rate"])
        assert row[10] == exp["unrostered"]
        assert row[11:17] == [exp["violations"].get(r, 0) for r in RULES]

    ws = wb["离岗记录 Absences"]
    absences = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert len(absences) == len(EXPECTED_ABSENCES)
    for row, (staff, day, window, start, end, cls, _refs) in zip(absences, EXPECTED_ABSENCES, strict=True):
        assert row[0] == datetime(2026, NOV, day)
        assert row[1:5] == [*NAMES[staff], staff, window]
        assert (row[5], row[6]) == (local(start), local(end))
        assert row[7] == (local(end) - local(start)).total_seconds() / 60  # type: ignore[operator]
        assert row[9] == cls
    assert absences[0][10] == "notice:n1 presence:p3"

    ws = wb["违规记录 Violations"]
    got_v = [(r[1], r[3], r[4], r[7]) for r in ([c.value for c in row] for row in ws.iter_rows(min_row=3))]
    assert got_v == [(e, rule, w, s) for e, rule, w, s, _ in EXPECTED_VIOLATIONS]


def parse_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def test_csv_round_trip(report: MonthReport) -> None:
    rows = parse_csv(to_csv(report, "daily"))
    assert rows[0][0] == "日期 Date" and rows[0][14] == "在岗率 On-post rate"
    want = expected_daily_rows()
    assert len(rows) - 1 == len(want)
    for got, w in zip(rows[1:], want, strict=True):
        rate = w[14]
        assert got[:14] == [fmt(v) for v in w[:14]]
        assert got[14] == ("" if rate is None else f"{rate * 100:.2f}%")
        assert got[15:] == [fmt(v) for v in w[15:]]
    # e.g. A on 2 Nov: 340 / 390 = 87.18 %
    assert rows[1][14] == "87.18%"

    clerks = parse_csv(to_csv(report, "clerks"))
    assert [r[2] for r in clerks[1:]] == [A, B, C]
    assert clerks[1][6:13] == ["1350", "1160", "75", "30", "0", "40", "45"]
    assert clerks[1][13] == "94.31%"  # 1160 / 1230
    assert clerks[2][26:29] == ["-5", "", "-5"]

    absences = parse_csv(to_csv(report, "absences"))
    assert len(absences) == 1 + len(EXPECTED_ABSENCES)
    assert absences[5][5:10] == ["2026-11-07 00:40", "2026-11-07 01:00", "20", "脱岗", "unexcused"]
    windows = parse_csv(to_csv(report, "windows"))
    assert windows[1][2:11] == ["1920", "1355", "75", "30", "20", "440", "0", "73.44%", "6390"]
    violations = parse_csv(to_csv(report, "violations"))
    assert [r[1] for r in violations[1:]] == [e for e, *_ in EXPECTED_VIOLATIONS]


def test_json_round_trip(report: MonthReport) -> None:
    """What the API sends parses back into the same report (computed minutes and rates included)."""
    text = report.model_dump_json()
    again = MonthReport.model_validate_json(text)
    assert again.model_dump_json() == text
    row = again.day(A, d(2))
    assert row.attendance.notice_on_time.minutes == 30 and row.attendance.on_post_rate == pytest.approx(340 / 390)
