"""Service hours: is a window open for service at a given instant? Pure, timezone-aware."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from edge.settings import WEEKDAYS, ServiceHours


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_service(hours: ServiceHours, at: datetime) -> bool:
    """True when ``at`` (aware) falls in the schedule of its local day, outside breaks and holidays."""
    if at.tzinfo is None:
        raise ValueError("in_service needs an aware datetime")
    local = at.astimezone(_zone(hours.timezone))
    day = local.date()
    if day in hours.holidays:
        return False
    weekday = hours.workdays.get(day, WEEKDAYS[local.weekday()])
    t = local.time()
    if not any(r.contains(t) for r in hours.weekly.get(weekday, [])):
        return False
    return not any(b.contains(t) for b in hours.breaks)
