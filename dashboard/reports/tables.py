"""The report's views as flat tables (typed columns, zh-CN + English headers) shared by XLSX, CSV and HTML.

Times are shown in the site's time zone, as naive wall-clock values (spreadsheets have no time zones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from dashboard.enums import Classification
from dashboard.reports.inputs import VIOLATION_RULES
from dashboard.reports.model import (
    ON_POST_RATE_DEFINITION,
    Attendance,
    Count,
    DayRow,
    DayType,
    MonthReport,
    Punctual,
    Refs,
)

Cell = str | int | float | date | datetime | None


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    MINUTES = "minutes"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = Kind.TEXT
    width: int = 10

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Table:
    key: str  # daily, clerks, windows, absences, violations
    zh: str
    en: str
    columns: tuple[Column, ...]
    rows: list[list[Cell]]

    def column(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)


CLASS_ZH = {
    Classification.APPROVED_LEAVE: "批准请假",
    Classification.NOTICE_ON_TIME: "按时报备",
    Classification.NOTICE_LATE: "逾时报备",
    Classification.UNEXCUSED: "脱岗",
}
CLASS_EN = {
    Classification.APPROVED_LEAVE: "Approved leave",
    Classification.NOTICE_ON_TIME: "Notice on time",
    Classification.NOTICE_LATE: "Notice late",
    Classification.UNEXCUSED: "Unexcused",
}
RULE_ZH = {
    "unattended_no_sign": "离岗未摆牌",
    "absence_over_30min": "离岗超30分钟",
    "slippers": "穿拖鞋",
    "eating": "吃东西",
    "phone_use": "玩手机",
    "dozing": "睡岗",
    "customer_waiting_unattended": "群众等候无人",
}
RULE_EN = {
    "unattended_no_sign": "Away, no sign",
    "absence_over_30min": "Away > 30 min",
    "slippers": "Slippers",
    "eating": "Eating",
    "phone_use": "Phone use",
    "dozing": "Dozing",
    "customer_waiting_unattended": "Customer left waiting",
}
PUNCTUAL_ZH = {
    Punctual.ON_TIME: "准时",
    Punctual.LATE: "迟到",
    Punctual.EARLY: "早退",
    Punctual.ABSENT: "未到岗",
    Punctual.UNKNOWN: "无法判定",
    Punctual.ON_LEAVE: "请假",
    Punctual.OFF: "休息",
}
DAY_TYPE_ZH = {DayType.OPEN: "工作日", DayType.CLOSED: "休息日", DayType.HOLIDAY: "节假日"}
WEEKDAY_ZH = "一二三四五六日"


def _minutes_columns(prefix: str = "") -> tuple[Column, ...]:
    return (
        Column(prefix + "scheduled", "应在岗(分)", "Scheduled (min)", Kind.MINUTES),
        Column(prefix + "present", "在岗(分)", "Present (min)", Kind.MINUTES),
        *(Column(prefix + c.value, CLASS_ZH[c] + "(分)", CLASS_EN[c] + " (min)", Kind.MINUTES, 12)
          for c in Classification),
        Column(prefix + "unobserved", "未观测(分)", "Unobserved (min)", Kind.MINUTES, 12),
        Column(prefix + "on_post_rate", "在岗率", "On-post rate", Kind.PERCENT),
    )


def _minutes_cells(a: Attendance) -> list[Cell]:
    return [
        a.scheduled.minutes, a.present.minutes,
        *(a.absent(c).minutes for c in Classification),
        a.unobserved.minutes, a.on_post_rate,
    ]


VIOLATION_COLUMNS = tuple(Column("v_" + r.value, RULE_ZH[r.value], RULE_EN[r.value], Kind.INT) for r in VIOLATION_RULES)


def _violation_cells(counts: dict[str, Count]) -> list[Cell]:
    return [counts[r.value].count for r in VIOLATION_RULES]


def refs_text(refs: Refs) -> str:
    return " ".join(f"{kind}:{ident}" for kind, ids in refs.items() for ident in ids)


class _Views:
    def __init__(self, report: MonthReport):
        self.report = report
        self.zone = ZoneInfo(report.timezone)
        self.clerks = {c.staff_id: c for c in report.clerks}

    def local(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(self.zone).replace(tzinfo=None)

    def who(self, staff_id: str | None) -> list[Cell]:
        if staff_id is None:
            return ["", "", ""]
        c = self.clerks.get(staff_id)
        return [c.employee_no if c else "", c.name if c else "", staff_id]

    def daily(self) -> Table:
        columns = (
            Column("date", "日期", "Date", Kind.DATE, 12),
            Column("weekday", "星期", "Weekday", width=8),
            Column("day_type", "日类型", "Day type", width=9),
            Column("employee_no", "工号", "Employee no."),
            Column("name", "姓名", "Name"),
            Column("staff_id", "人员ID", "Staff ID"),
            Column("windows", "窗口", "Windows"),
            *_minutes_columns(),
            Column("arrival", "到岗", "Arrival"),
            Column("arrived_at", "到岗时间", "Arrived at", Kind.DATETIME, 17),
            Column("late_min", "迟到(分)", "Late (min)", Kind.MINUTES),
            Column("departure", "离岗", "Departure"),
            Column("left_at", "离岗时间", "Left at", Kind.DATETIME, 17),
            Column("early_min", "早退(分)", "Early (min)", Kind.MINUTES),
            *VIOLATION_COLUMNS,
        )
        rows = [self._day(d) for d in self.report.days if d.on_duty or any(v.count for v in d.violations.values())]
        return Table("daily", "每日明细", "Daily", columns, rows)

    def _day(self, d: DayRow) -> list[Cell]:
        return [
            d.date, "周" + WEEKDAY_ZH[d.date.weekday()], DAY_TYPE_ZH[d.day_type], *self.who(d.staff_id),
            " ".join(d.windows), *_minutes_cells(d.attendance),
            PUNCTUAL_ZH[d.arrival.status], self.local(d.arrival.at), d.arrival.minutes,
            PUNCTUAL_ZH[d.departure.status], self.local(d.departure.at), d.departure.minutes,
            *_violation_cells(d.violations),
        ]

    def clerks_table(self) -> Table:
        columns = (
            Column("employee_no", "工号", "Employee no."),
            Column("name", "姓名", "Name"),
            Column("staff_id", "人员ID", "Staff ID"),
            Column("windows", "窗口", "Windows"),
            Column("days_on_duty", "排班天数", "Days on duty", Kind.INT),
            Column("days_present", "到岗天数", "Days present", Kind.INT),
            *_minutes_columns(),
            Column("late_days", "迟到次数", "Late (days)", Kind.INT),
            Column("late_min", "迟到(分)", "Late (min)", Kind.MINUTES),
            Column("early_days", "早退次数", "Early (days)", Kind.INT),
            Column("early_min", "早退(分)", "Early (min)", Kind.MINUTES),
            Column("absent_days", "全天未到岗", "Absent (days)", Kind.INT, 12),
            *VIOLATION_COLUMNS,
            Column("violations", "违规合计", "Violations", Kind.INT),
            Column("points_suggested", "建议加减分", "Suggested pts", Kind.INT, 12),
            Column("points_override", "主管调整", "Override pts", Kind.INT),
            Column("points_final", "最终加减分", "Final pts", Kind.INT),
            Column("points_reasons", "依据", "Reasons", width=48),
            Column("points_note", "备注", "Note", width=20),
        )
        rows = [
            [
                c.employee_no, c.name, c.staff_id, " ".join(c.windows), c.days_on_duty, c.days_present,
                *_minutes_cells(c.attendance),
                c.late.count, c.late_seconds / 60, c.early.count, c.early_seconds / 60, c.absent_days.count,
                *_violation_cells(c.violations), sum(v.count for v in c.violations.values()),
                c.points.suggested, c.points.override, c.points.final, "；".join(c.points.reasons), c.points.note,
            ]
            for c in self.report.clerks
        ]
        return Table("clerks", "人员月度汇总", "Clerk totals", columns, rows)

    def windows_table(self) -> Table:
        columns = (
            Column("window_id", "窗口ID", "Window ID"),
            Column("window_name", "窗口名称", "Window", width=18),
            *_minutes_columns(),
            Column("unrostered", "无人排班(分)", "Unrostered (min)", Kind.MINUTES, 13),
            *VIOLATION_COLUMNS,
            Column("violations", "违规合计", "Violations", Kind.INT),
        )
        rows = [
            [
                w.window_id, w.name, *_minutes_cells(w.attendance), w.unrostered.minutes,
                *_violation_cells(w.violations), sum(v.count for v in w.violations.values()),
            ]
            for w in self.report.windows
        ]
        return Table("windows", "窗口月度汇总", "Window totals", columns, rows)

    def absences(self) -> Table:
        columns = (
            Column("date", "日期", "Date", Kind.DATE, 12),
            Column("employee_no", "工号", "Employee no."),
            Column("name", "姓名", "Name"),
            Column("staff_id", "人员ID", "Staff ID"),
            Column("window_id", "窗口", "Window"),
            Column("start", "开始", "Start", Kind.DATETIME, 17),
            Column("end", "结束", "End", Kind.DATETIME, 17),
            Column("minutes", "时长(分)", "Minutes", Kind.MINUTES),
            Column("classification", "分类", "Classification", width=12),
            Column("class_code", "分类代码", "Class code", width=15),
            Column("refs", "依据记录", "Records", width=40),
        )
        rows = [
            [
                a.service_date, *self.who(a.staff_id), a.window_id, self.local(a.start), self.local(a.end),
                a.minutes, CLASS_ZH[a.classification], a.classification.value, refs_text(a.refs),
            ]
            for a in self.report.absences
        ]
        return Table("absences", "离岗记录", "Absences", columns, rows)

    def violations(self) -> Table:
        columns = (
            Column("date", "日期", "Date", Kind.DATE, 12),
            Column("event_id", "事件ID", "Event ID", width=14),
            Column("rule", "违规类型", "Violation", width=14),
            Column("rule_code", "类型代码", "Rule code", width=16),
            Column("window_id", "窗口", "Window"),
            Column("employee_no", "工号", "Employee no."),
            Column("name", "姓名", "Name"),
            Column("staff_id", "人员ID", "Staff ID"),
            Column("start", "开始", "Start", Kind.DATETIME, 17),
            Column("end", "结束", "End", Kind.DATETIME, 17),
        )
        rows = [
            [
                v.service_date, v.event_id, RULE_ZH[v.rule], v.rule, v.window_id, *self.who(v.staff_id),
                self.local(v.started_at), self.local(v.ended_at),
            ]
            for v in self.report.violations
        ]
        return Table("violations", "违规记录", "Violations", columns, rows)


VIEWS: dict[str, Callable[[_Views], Table]] = {
    "daily": _Views.daily,
    "clerks": _Views.clerks_table,
    "windows": _Views.windows_table,
    "absences": _Views.absences,
    "violations": _Views.violations,
}


def tables(report: MonthReport) -> list[Table]:
    views = _Views(report)
    return [build(views) for build in VIEWS.values()]


def table(report: MonthReport, view: str) -> Table:
    if view not in VIEWS:
        raise KeyError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    return VIEWS[view](_Views(report))


NOTES: tuple[tuple[str, str], ...] = (
    ("在岗率 On-post rate", ON_POST_RATE_DEFINITION),
    ("应在岗 Scheduled", "开放时间(不含午休、节假日) ∩ 排班 / opening hours (breaks and holidays excluded) ∩ roster."),
    ("分钟划分 Partition", "在岗 + 批准请假 + 按时报备 + 逾时报备 + 脱岗 + 未观测 = 应在岗 / "
     "present + approved leave + notice on time + notice late + unexcused + unobserved = scheduled."),
    ("未观测 Unobserved", "摄像头离线或无数据的时间，不计为离岗 / camera blind or no data: never counted as absence."),
    ("迟到 Late", "开门前10分钟未在岗 / not in place 10 minutes before opening."),
    ("早退 Early", "排班结束前离岗且无批准请假 / gone before the end of duty without approved leave."),
    ("加减分 Points", "建议值(−5..+5)可由主管调整 / a suggestion (−5..+5) the supervisor may override."),
)
