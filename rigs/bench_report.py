"""``counterwatch bench report``: build a realistic month and time the reconciliation, the exports and the
database round trip; prints JSON.

The synthetic hall: N clerks at N windows, Mon–Fri 09:00–12:00 + 13:30–17:00 and Saturday mornings, one
holiday; each window-day has an arrival, a lunch break, a few short absences (some with off-post notices,
some over 30 minutes), a departure, now and then a camera outage and a mid-day roster swap; a few leaves
(some across the month's edges) and ~5 confirmed violations per clerk."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from broker.payloads import Rule
from dashboard.enums import PresenceState
from dashboard.reports.inputs import (
    VIOLATION_RULES,
    ConfirmedViolation,
    LeaveRecord,
    MonthInput,
    OffPostNotice,
    PresenceInterval,
    RosterAssignment,
    ServiceSchedule,
    Session,
    SiteInfo,
    Staff,
    Window,
)

T = TypeVar("T")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clerks", type=int, default=200, help="clerks (one window each)")
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--month", type=int, default=11)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "none"), default="sqlite",
                        help="also seed a fresh database, load the month back and time it")
    parser.add_argument("--pg-server", default=PG_SERVER, help="PostgreSQL server (a temp database is made)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the pure build (best and mean reported)")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# --- the synthetic month ----------------------------------------------------------------------------------


def synthetic_month(clerks: int, year: int, month: int, seed: int = 1) -> MonthInput:
    rng = random.Random(seed)
    zone = ZoneInfo("Asia/Shanghai")
    weekday = (Session.model_validate({"open": "09:00", "close": "12:00"}),
               Session.model_validate({"open": "13:30", "close": "17:00"}))
    first = date(year, month, 1)
    holiday = first + timedelta(days=(2 - first.weekday()) % 7 + 7)  # the second Wednesday
    schedule = ServiceSchedule(
        timezone="Asia/Shanghai", weekly={1: weekday, 2: weekday, 3: weekday, 4: weekday, 5: weekday,
                                          6: weekday[:1]},
        holidays=frozenset({holiday}),
    )
    staff = [Staff(id=f"s{i:04d}", name=f"职员{i:04d}", employee_no=f"E{i:05d}") for i in range(clerks)]
    windows = [Window(id=f"w{i:03d}", name=f"{i + 1}号窗口") for i in range(clerks)]
    days = [first + timedelta(days=i) for i in range(40) if (first + timedelta(days=i)).month == month]

    def at(day: date, minute: float) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(minutes=round(minute))

    roster: list[RosterAssignment] = []
    presence: list[PresenceInterval] = []
    notices: list[OffPostNotice] = []
    violations: list[ConfirmedViolation] = []
    leaves: list[LeaveRecord] = []
    n = 0

    def add(window: str, state: PresenceState, day: date, a: float, b: float) -> None:
        nonlocal n
        if round(b) > round(a):
            presence.append(PresenceInterval(id=f"p{n}", window_id=window, state=state, start=at(day, a),
                                             end=at(day, b)))
            n += 1

    for i, s in enumerate(staff):
        if rng.random() < 0.06:  # a multi-day leave, some across the month's edges
            start = first + timedelta(days=rng.randrange(-3, len(days)))
            leaves.append(LeaveRecord(id=f"l{i}", staff_id=s.id, leave_type="annual",
                                      start=at(start, 0), end=at(start, 1440 * rng.randint(1, 5))))
    rng_day_swap = {(d, i): rng.random() < 0.05 for d in days for i in range(0, clerks, 2)}
    for day in days:
        sessions = schedule.sessions_on(day)
        if not sessions:
            continue
        closing = 17 * 60 if len(sessions) > 1 else 12 * 60
        for i, s in enumerate(staff):
            w = windows[i].id
            # Pairs of neighbours sometimes swap windows at 11:00 (a mid-day roster change).
            pair = i ^ 1
            swapped = pair < clerks and rng_day_swap[(day, min(i, pair))]
            if swapped:
                roster.append(RosterAssignment(id=f"r{len(roster)}", staff_id=s.id, window_id=w,
                                               start=at(day, 510), end=at(day, 660)))
                roster.append(RosterAssignment(id=f"r{len(roster)}", staff_id=s.id, window_id=windows[pair].id,
                                               start=at(day, 660), end=at(day, closing + 30)))
            else:
                roster.append(RosterAssignment(id=f"r{len(roster)}", staff_id=s.id, window_id=w,
                                               start=at(day, 510), end=at(day, closing + 30)))
            # The window's day: arrival, short absences, lunch, departure, maybe a camera outage.
            t = 480.0
            arrive = rng.gauss(528, 8)
            add(w, PresenceState.ABSENT, day, t, arrive)
            t = arrive
            marks = sorted(rng.uniform(545, closing - 20) for _ in range(rng.randint(3, 8)))
            for mark in marks:
                if mark <= t:
                    continue
                if len(sessions) > 1 and t < 720 <= mark:  # lunch
                    lunch_out = rng.gauss(722, 3)
                    back = rng.gauss(805, 5)
                    add(w, PresenceState.PRESENT, day, t, lunch_out)
                    add(w, PresenceState.ABSENT, day, lunch_out, back)
                    t = back
                    if mark <= t:
                        continue
                away = rng.choice([3, 5, 8, 12, 20]) if rng.random() < 0.93 else rng.uniform(31, 70)
                add(w, PresenceState.PRESENT, day, t, mark)
                state = PresenceState.SIGN_ON if rng.random() < 0.5 else PresenceState.ABSENT
                if rng.random() < 0.02:
                    state = PresenceState.UNOBSERVED  # camera outage
                    away = rng.uniform(30, 120)
                add(w, state, day, mark, mark + away)
                if state is not PresenceState.UNOBSERVED and rng.random() < 0.3:
                    late = rng.random() < 0.2
                    notices.append(OffPostNotice(
                        id=f"n{len(notices)}", staff_id=s.id, start=at(day, mark), end=at(day, mark + away),
                        registered_at=at(day, mark + (10 if late else 1)),
                    ))
                t = mark + away
            leave_at = max(t, rng.gauss(closing + 3, 6))
            add(w, PresenceState.PRESENT, day, t, leave_at)
            add(w, PresenceState.ABSENT, day, leave_at, closing + 60)
    rules = list(VIOLATION_RULES)
    for i, s in enumerate(staff):
        for k in range(rng.randint(2, 8)):
            day = rng.choice([d for d in days if schedule.sessions_on(d)])
            rule: Rule = rng.choice(rules)
            violations.append(ConfirmedViolation(
                event_id=f"ev-{i:04d}-{k}", rule=rule, window_id=windows[i].id,
                started_at=at(day, rng.uniform(560, 700)), staff_id=s.id if rng.random() < 0.3 else None,
            ))
    return MonthInput(
        site=SiteInfo(id="bench", name="基准大厅"), year=year, month=month, schedule=schedule, staff=tuple(staff),
        windows=tuple(windows), roster=tuple(roster), presence=tuple(presence), leaves=tuple(leaves),
        notices=tuple(notices), violations=tuple(violations),
    )


# --- the run ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from dashboard.reports.export import to_csv, to_xlsx
    from dashboard.reports.monthly import build_month
    from dashboard.reports.render import render_html
    from dashboard.reports.tables import VIEWS

    data, gen_s = _timed(lambda: synthetic_month(args.clerks, args.year, args.month, args.seed))
    result: dict[str, Any] = {
        "bench": "report",
        "clerks": args.clerks,
        "month": f"{args.year}-{args.month:02d}",
        "inputs": {
            "roster": len(data.roster), "presence_intervals": len(data.presence), "leaves": len(data.leaves),
            "notices": len(data.notices), "violations": len(data.violations),
        },
        "generate_and_validate_s": round(gen_s, 3),
    }
    runs = []
    report = None
    for _ in range(max(1, args.repeat)):
        report, seconds = _timed(lambda: build_month(data))
        runs.append(seconds)
    assert report is not None
    result["build_s"] = {"best": round(min(runs), 3), "mean": round(sum(runs) / len(runs), 3)}
    json_bytes, s = _timed(lambda: report.model_dump_json().encode())
    result["json_s"] = round(s, 3)
    result["json_bytes"] = len(json_bytes)
    xlsx, s = _timed(lambda: to_xlsx(report))
    result["xlsx_s"], result["xlsx_bytes"] = round(s, 3), len(xlsx)
    result["xlsx_writer"] = "openpyxl write-only, lxml" if _has_lxml() else "openpyxl write-only, pure-Python XML"
    csvs, s = _timed(lambda: [to_csv(report, v) for v in VIEWS])
    result["csv_all_views_s"], result["csv_bytes"] = round(s, 3), sum(len(c) for c in csvs)
    html, s = _timed(lambda: render_html(report))
    result["html_s"], result["html_bytes"] = round(s, 3), len(html)
    result["day_rows"] = len(report.days)
    result["absence_spans"] = len(report.absences)
    if args.database != "none":
        result["database"] = _database_round_trip(args, data)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _has_lxml() -> bool:
    import openpyxl

    return bool(getattr(openpyxl, "LXML", False))


def _database_round_trip(args: argparse.Namespace, data: MonthInput) -> dict[str, Any]:
    import psycopg

    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.reports.loader import load_month_input
    from dashboard.reports.monthly import build_month
    from dashboard.reports.seed import latest, seed_month

    out: dict[str, Any] = {"backend": args.database}
    tmp = tempfile.TemporaryDirectory(prefix="cw-report-bench-")
    pg_name = f"cw_bench_{uuid.uuid4().hex[:10]}"
    if args.database == "sqlite":
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    else:
        with psycopg.connect(args.pg_server + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"{args.pg_server}/{pg_name}"
    try:
        _, out["migrate_s"] = _timed(lambda: upgrade(url))
        db = Database(url)
        try:
            def seed() -> None:
                with db.session() as s:
                    seed_month(s, data)

            _, out["seed_s"] = _timed(seed)

            def load() -> MonthInput:
                with db.session() as s:
                    return load_month_input(s, site_id=data.site.id, year=data.year, month=data.month,
                                            schedule=data.schedule, now=latest(data))

            loaded, out["load_s"] = _timed(load)
            report, out["build_from_loaded_s"] = _timed(lambda: build_month(loaded))
            out["load_and_build_s"] = out["load_s"] + out["build_from_loaded_s"]
            out["presence_rows_loaded"] = len(loaded.presence)
            out["day_rows"] = len(report.days)
        finally:
            db.dispose()
    finally:
        if args.database == "postgresql":
            with psycopg.connect(args.pg_server + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        tmp.cleanup()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}

