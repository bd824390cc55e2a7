"""The default demo's parts: the edge configuration `up` writes from the shipped scenario files, and the
demo roster that has every demo window staffed around the clock (weekends too)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from counterwatch.up import demo_edge_config
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.db.models import Roster, Window
from dashboard.seed import TIMEZONE, seed_demo
from edge.rules.schedule import in_service
from edge.settings import EdgeSettings


def test_up_configures_both_demo_cameras_with_demo_thresholds(tmp_path: Path) -> None:
    settings = EdgeSettings.model_validate(demo_edge_config(1883, "http://127.0.0.1:8080", "t", "p", tmp_path))
    layout = {c.id: [w.id for w in c.windows] for c in settings.cameras}
    assert layout == {"cam1": ["w01", "w02", "w03"], "cam2": ["w04"]}
    assert all(c.loop and c.realtime and Path(c.source).exists() for c in settings.cameras)
    assert (settings.rules.unattended_s, settings.rules.absence_s) == (20, 45)
    saturday_night = datetime(2026, 12, 5, 23, 30, tzinfo=ZoneInfo(TIMEZONE))
    assert in_service(settings.service_hours, saturday_night)  # the demo hall never closes
    assert settings.sign.ocr is False


def test_demo_roster_staffs_every_window_around_the_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    db = Database(url)
    try:
        saturday = date(2026, 12, 5)
        seed_demo(db, days=2, start=saturday, all_day=True)
        assert seed_demo(db, days=2, start=saturday, all_day=True).rosters_added == 0
        tz = ZoneInfo(TIMEZONE)
        with db.session() as s:
            codes = {w.id: w.code for w in s.scalars(select(Window))}
            rosters = list(s.scalars(select(Roster)))
            for moment in (datetime(2026, 12, 5, 0, 0, tzinfo=tz), datetime(2026, 12, 5, 23, 59, tzinfo=tz),
                           datetime(2026, 12, 6, 12, 0, tzinfo=tz)):
                on = {codes[r.window_id] for r in rosters
                      if r.start.replace(tzinfo=r.start.tzinfo or tz) <= moment
                      < r.end.replace(tzinfo=r.end.tzinfo or tz)}
                assert on == {"w01", "w02", "w03", "w04"}, moment
            assert all(r.end - r.start == timedelta(days=1) for r in rosters)
    finally:
        db.dispose()
