"""A hand-made month (November 2026, Asia/Shanghai, UTC+8) small enough to reckon on paper.

Schedule: Mon–Fri 09:00–12:00 + 13:30–17:00 (390 min, lunch break 12:00–13:30), Sat 09:00–12:00 (180),
Sun closed; Wed 4 Nov is a holiday; Fri 6 Nov is a special day with only a night session 22:00–01:00 (180)
that runs past midnight. Clerks: A 张三 (s-a), B 李四 (s-b), C 王五 (s-c); windows W1, W2.

Day by day (local times; the expected numbers live in test_fixture_month.py):
* Mon 2 Nov — A at W1: notice on time 10:20–10:50, leaves 16:40 (early). B at W2 on a leave that began
  Fri 30 Oct and ends at the end of 2 Nov (crosses the month boundary).
* Tue 3 Nov — roster swap at 11:00: A W1 → W2, C W2 → W1. A arrives 08:55 (late). W2's camera is offline
  14:00–14:45. C away 09:30–10:00 (unexcused) and 11:40–12:00 (notice registered late).
* Wed 4 Nov — holiday (A is rostered, but the hall is closed).
* Thu 5 Nov — A at W1: away 09:40–10:25 (a supervisor ruled it approved leave; a late notice also covers
  it), approved leave 16:30–17:00. B at W2: arrives 09:12, sign up 11:00–11:20 with an on-time notice, no
  presence record at all 15:00–15:30 (missing data), leaves 16:50. Five confirmed violations.
* Fri 6 Nov — night session 22:00–01:00: A at W1 present 21:45–00:40.
* Sat 7 Nov — C at W1, camera offline until 08:55 (arrival unknown), leaves 11:50. A violation at W2,
  where nobody is rostered.
* Mon 30 Nov — B rostered at W1 never shows up. C at W2 in the morning, approved leave from 13:30 to
  Tue 1 Dec 17:00 (crosses the month's end).
* Outside the month: B's roster on Fri 30 Oct, C's on Tue 1 Dec, a violation on 1 Dec.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broker.payloads import Rule
from dashboard.enums import Classification, PresenceState
from dashboard.reports.inputs import (
    AbsenceRuling,
    ConfirmedViolation,
    LeaveRecord,
    MonthInput,
    OffPostNotice,
    PointsOverride,
    PresenceInterval,
    RosterAssignment,
    ServiceSchedule,
    Session,
    SiteInfo,
    Staff,
    Window,
)

TZ = ZoneInfo("Asia/Shanghai")
A, B, C = "s-a", "s-b", "s-c"
W1, W2 = "W1", "W2"

PRESENT = PresenceState.PRESENT
ABSENT = PresenceState.ABSENT
SIGN_ON = PresenceState.SIGN_ON
UNOBSERVED = PresenceState.UNOBSERVED


def at(day: int, hhmm: str, month: int = 11) -> datetime:
    """Local wall-clock time in Shanghai; ``day`` 31 of month 10 etc. via ``month``. ``24:00`` = next 00:00."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    base = datetime.combine(date(2026, month, day), time(0, 0), tzinfo=TZ)
    return base + timedelta(hours=hour, minutes=minute)


def span(day: int, start: str, end: str, end_day: int | None = None, month: int = 11) -> dict[str, datetime]:
    return {"start": at(day, start, month), "end": at(end_day or day, end, month)}


def P(pid: str, window: str, state: PresenceState, day: int, start: str, end: str,
      end_day: int | None = None) -> PresenceInterval:
    return PresenceInterval(id=pid, window_id=window, state=state, **span(day, start, end, end_day))


def R(rid: str, staff: str, window: str, day: int, start: str, end: str, end_day: int | None = None,
      month: int = 11) -> RosterAssignment:
    return RosterAssignment(id=rid, staff_id=staff, window_id=window, **span(day, start, end, end_day, month))


WEEKDAY = (Session(open=time(9, 0), close=time(12, 0)), Session(open=time(13, 30), close=time(17, 0)))

SCHEDULE = ServiceSchedule(
    timezone="Asia/Shanghai",
    weekly={1: WEEKDAY, 2: WEEKDAY, 3: WEEKDAY, 4: WEEKDAY, 5: WEEKDAY,
            6: (Session(open=time(9, 0), close=time(12, 0)),)},
    holidays=frozenset({date(2026, 11, 4)}),
    special_days={date(2026, 11, 6): (Session(open=time(22, 0), close=time(1, 0)),)},
)


def fixture_month() -> MonthInput:
    roster = (
        R("r0", B, W2, 30, "08:30", "17:30", month=10),  # outside the month
        R("r1", A, W1, 2, "08:30", "17:30"),
        R("r2", B, W2, 2, "08:30", "17:30"),
        R("r3", A, W1, 3, "08:30", "11:00"),
        R("r4", A, W2, 3, "11:00", "17:30"),
        R("r5", C, W2, 3, "08:30", "11:00"),
        R("r6", C, W1, 3, "11:00", "17:30"),
        R("r7", A, W1, 4, "08:30", "17:30"),  # a holiday
        R("r8", A, W1, 5, "08:30", "17:30"),
        R("r9", B, W2, 5, "08:30", "17:30"),
        R("r14", A, W1, 6, "21:00", "02:00", end_day=7),  # the night session
        R("r10", C, W1, 7, "08:30", "12:30"),
        R("r11", C, W2, 30, "08:30", "17:30"),
        R("r12", B, W1, 30, "08:30", "17:30"),
        RosterAssignment(id="r13", staff_id=C, window_id=W2, start=at(1, "08:30", 12), end=at(1, "17:30", 12)),
    )
    presence = (
        # Mon 2 Nov, W1 (A)
        P("p1", W1, ABSENT, 2, "07:40", "08:45"),
        P("p2", W1, PRESENT, 2, "08:45", "10:20"),
        P("p3", W1, ABSENT, 2, "10:20", "10:50"),
        P("p4", W1, PRESENT, 2, "10:50", "12:05"),
        P("p5", W1, ABSENT, 2, "12:05", "13:25"),
        P("p6", W1, PRESENT, 2, "13:25", "16:40"),
        P("p7", W1, ABSENT, 2, "16:40", "17:30"),
        # Mon 2 Nov, W2 (B on leave)
        P("p8", W2, ABSENT, 2, "08:00", "18:00"),
        # Tue 3 Nov, W1 (A until 11:00, then C)
        P("p10", W1, ABSENT, 3, "08:00", "08:55"),
        P("p11", W1, PRESENT, 3, "08:55", "11:40"),
        P("p12", W1, ABSENT, 3, "11:40", "12:10"),
        P("p13", W1, PRESENT, 3, "12:10", "17:10"),
        # Tue 3 Nov, W2 (C until 11:00, then A)
        P("p15", W2, ABSENT, 3, "08:00", "08:20"),
        P("p16", W2, PRESENT, 3, "08:20", "09:30"),
        P("p17", W2, ABSENT, 3, "09:30", "10:00"),
        P("p18", W2, PRESENT, 3, "10:00", "14:00"),
        P("p19", W2, UNOBSERVED, 3, "14:00", "14:45"),  # camera offline
        P("p20", W2, PRESENT, 3, "14:45", "17:20"),
        # Thu 5 Nov, W1 (A)
        P("p21", W1, ABSENT, 5, "08:00", "08:30"),
        P("p22", W1, PRESENT, 5, "08:30", "09:40"),
        P("p23", W1, ABSENT, 5, "09:40", "10:25"),
        P("p24", W1, PRESENT, 5, "10:25", "16:30"),
        P("p25", W1, ABSENT, 5, "16:30", "18:00"),
        # Thu 5 Nov, W2 (B); no record 12:00–13:30 (break) nor 15:00–15:30 (missing data)
        P("p26", W2, ABSENT, 5, "08:00", "09:12"),
        P("p27", W2, PRESENT, 5, "09:12", "11:00"),
        P("p28", W2, SIGN_ON, 5, "11:00", "11:20"),
        P("p29", W2, PRESENT, 5, "11:20", "12:00"),
        P("p30", W2, PRESENT, 5, "13:30", "15:00"),
        P("p31", W2, PRESENT, 5, "15:30", "16:50"),
        P("p32", W2, ABSENT, 5, "16:50", "17:30"),
        # Fri 6 Nov night, W1 (A)
        P("p40", W1, PRESENT, 6, "21:45", "00:40", end_day=7),
        P("p41", W1, ABSENT, 7, "00:40", "02:00"),
        # Sat 7 Nov, W1 (C)
        P("p33", W1, UNOBSERVED, 7, "08:00", "08:55"),
        P("p34", W1, PRESENT, 7, "08:55", "11:50"),
        P("p35", W1, ABSENT, 7, "11:50", "12:30"),
        # Mon 30 Nov: W1 (B never comes), W2 (C, leave from 13:30)
        P("p36", W1, ABSENT, 30, "08:00", "18:00"),
        P("p37", W2, ABSENT, 30, "08:00", "08:40"),
        P("p38", W2, PRESENT, 30, "08:40", "12:03"),
        P("p39", W2, ABSENT, 30, "12:03", "18:00"),
    )
    leaves = (
        LeaveRecord(id="l1", staff_id=B, leave_type="sick", start=at(30, "08:00", 10), end=at(2, "24:00")),
        LeaveRecord(id="l2", staff_id=A, leave_type="personal", **span(5, "16:30", "17:00")),
        LeaveRecord(id="l3", staff_id=C, leave_type="annual", start=at(30, "13:30"), end=at(1, "17:00", 12)),
    )
    notices = (
        OffPostNotice(id="n1", staff_id=A, registered_at=at(2, "10:18"), **span(2, "10:20", "10:50")),
        OffPostNotice(id="n2", staff_id=C, registered_at=at(3, "11:50"), **span(3, "11:40", "12:00")),
        OffPostNotice(id="n3", staff_id=A, registered_at=at(5, "10:00"), **span(5, "09:40", "10:25")),
        OffPostNotice(id="n4", staff_id=B, registered_at=at(5, "11:02"), **span(5, "11:00", "11:30")),
    )
    rulings = (
        AbsenceRuling(id="u1", staff_id=A, classification=Classification.APPROVED_LEAVE,
                      **span(5, "09:40", "10:25")),
    )
    violations = (
        ConfirmedViolation(event_id="e1", rule=Rule.ABSENCE_OVER_30MIN, window_id=W1, started_at=at(5, "10:10"),
                           ended_at=at(5, "10:25")),
        ConfirmedViolation(event_id="e2", rule=Rule.PHONE_USE, window_id=W1, started_at=at(5, "14:00"),
                           ended_at=at(5, "14:02")),
        ConfirmedViolation(event_id="e3", rule=Rule.EATING, window_id=W1, started_at=at(5, "15:00"), staff_id=A),
        ConfirmedViolation(event_id="e4", rule=Rule.CUSTOMER_WAITING_UNATTENDED, window_id=W2,
                           started_at=at(5, "09:05")),
        ConfirmedViolation(event_id="e5", rule=Rule.UNATTENDED_NO_SIGN, window_id=W2, started_at=at(5, "16:55")),
        ConfirmedViolation(event_id="e6", rule=Rule.SLIPPERS, window_id=W1, started_at=at(7, "10:00")),
        ConfirmedViolation(event_id="e7", rule=Rule.PHONE_USE, window_id=W2, started_at=at(1, "10:00", 12)),
        ConfirmedViolation(event_id="e8", rule=Rule.EATING, window_id=W2, started_at=at(7, "10:30")),
    )
    return MonthInput(
        site=SiteInfo(id="hall1", name="政务服务大厅"),
        year=2026,
        month=11,
        schedule=SCHEDULE,
        staff=(Staff(id=A, name="张三", employee_no="001"), Staff(id=B, name="李四", employee_no="002"),
               Staff(id=C, name="王五", employee_no="003")),
        windows=(Window(id=W1, name="综合受理1号窗"), Window(id=W2, name="综合受理2号窗")),
        roster=roster,
        presence=presence,
        leaves=leaves,
        notices=notices,
        rulings=rulings,
        violations=violations,
        point_overrides=(PointsOverride(staff_id=A, points=3, note="主动服务 helpful"),),
    )
