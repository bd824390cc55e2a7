"""The hall's service schedule for the reports: opening hours with breaks, holidays, special days.

The database has no schedule table, so it comes from a small YAML file (``CW_REPORTS_SCHEDULE`` or
``<state_dir>/service_schedule.yaml``), else the default below (Mon–Fri 09:00–12:00 and 13:30–17:00)::

    timezone: Asia/Shanghai          # optional: the site's time zone
    weekly:                          # ISO weekday -> sessions; the gaps are breaks
      1: [["09:00", "12:00"], ["13:30", "17:00"]]
      6: [["09:00", "12:00"]]
    holidays: [2026-10-01, 2026-10-02]
    special_days:                    # replaces the weekly hours of a date (调休, evening service ...)
      2026-09-27: [["09:00", "12:00"], ["13:30", "17:00"]]
      2026-12-31: [["18:00", "01:00"]]   # past midnight: belongs to the 31st
    in_place_before_minutes: 10
"""

from __future__ import annotations

import os
from datetime import date, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dashboard.reports.inputs import ServiceSchedule, Session

SCHEDULE_ENV = "CW_REPORTS_SCHEDULE"
SCHEDULE_FILE = "service_schedule.yaml"

WEEKDAY_HOURS = (Session(open=time(9, 0), close=time(12, 0)), Session(open=time(13, 30), close=time(17, 0)))


class ScheduleError(ValueError):
    pass


class _ScheduleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str | None = None
    weekly: dict[int, list[tuple[time, time]]] | None = None
    holidays: list[date] = Field(default_factory=list)
    special_days: dict[date, list[tuple[time, time]]] = Field(default_factory=dict)
    in_place_before_minutes: int = Field(10, ge=0, le=120)


def default_schedule(
    timezone: str = "Asia/Shanghai", notice_grace: timedelta = timedelta(minutes=5)
) -> ServiceSchedule:
    return ServiceSchedule(
        timezone=timezone, weekly={d: WEEKDAY_HOURS for d in range(1, 6)}, notice_grace=notice_grace
    )


def _sessions(pairs: list[tuple[time, time]]) -> tuple[Session, ...]:
    return tuple(Session(open=a, close=b) for a, b in pairs)


def parse_schedule(text: str, *, timezone: str, notice_grace: timedelta) -> ServiceSchedule:
    """A schedule from YAML text; errors name the field."""
    try:
        raw = yaml.safe_load(text) or {}
        spec = _ScheduleFile.model_validate(raw)
        return ServiceSchedule(
            timezone=spec.timezone or timezone,
            weekly=({k: _sessions(v) for k, v in spec.weekly.items()} if spec.weekly is not None
                    else default_schedule().weekly),
            holidays=frozenset(spec.holidays),
            special_days={d: _sessions(v) for d, v in spec.special_days.items()},
            in_place_before=timedelta(minutes=spec.in_place_before_minutes),
            notice_grace=notice_grace,
        )
    except yaml.YAMLError as exc:
        raise ScheduleError(f"service schedule is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScheduleError(f"service schedule: {where}: {first['msg']}") from exc


def load_schedule(state_dir: Path | None, *, timezone: str, notice_grace: timedelta) -> ServiceSchedule:
    """From ``$CW_REPORTS_SCHEDULE`` or ``<state_dir>/service_schedule.yaml``, else the default."""
    path = Path(os.environ[SCHEDULE_ENV]) if os.environ.get(SCHEDULE_ENV) else (
        state_dir / SCHEDULE_FILE if state_dir is not None else None
    )
    if path is None or not path.exists():
        return default_schedule(timezone, notice_grace)
    return parse_schedule(path.read_text(encoding="utf-8"), timezone=timezone, notice_grace=notice_grace)
