"""Attribute an event to the clerk(s) rostered on its window when it started."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from broker.payloads import Rule

# Rules that mean "the clerk was not at the window": these get an excuse classification as well.
ABSENCE_RULES = frozenset({Rule.UNATTENDED_NO_SIGN, Rule.ABSENCE_OVER_30MIN, Rule.CUSTOMER_WAITING_UNATTENDED})


@dataclass(frozen=True)
class RosterSlot:
    staff_id: int
    window_id: int
    start: datetime
    end: datetime  # exclusive

    def covers(self, window_id: int, at: datetime) -> bool:
        return self.window_id == window_id and self.start <= at < self.end


def rostered_staff(window_id: int, at: datetime, slots: Iterable[RosterSlot]) -> list[int]:
    """Staff ids rostered on ``window_id`` at ``at`` (sorted, no duplicates)."""
    return sorted({s.staff_id for s in slots if s.covers(window_id, at)})


def is_attributable(rule: str) -> bool:
    """Camera-health events are about the camera, never about a clerk."""
    try:
        return not Rule(rule).is_camera_health
    except ValueError:
        return False
