"""Leave approval levels and limits (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.enums import ApprovalLevel, LeaveType
from dashboard.leave import LeaveError, check_leave
from dashboard.settings import LeavePolicy

T = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(("hours", "level"), [
    (4, ApprovalLevel.HALL_HEAD), (24, ApprovalLevel.HALL_HEAD), (25, ApprovalLevel.DISTRICT_LEADER),
    (48, ApprovalLevel.DISTRICT_LEADER), (49, ApprovalLevel.PRINCIPAL_LEADERS),
])
def test_default_levels(hours: int, level: ApprovalLevel) -> None:
    assert check_leave(LeaveType.PERSONAL, T, T + timedelta(hours=hours), LeavePolicy()) is level


def test_limits_and_configuration() -> None:
    with pytest.raises(LeaveError, match="30-day"):
        check_leave(LeaveType.SICK, T, T + timedelta(days=31), LeavePolicy())
    assert check_leave(LeaveType.MATERNITY, T, T + timedelta(days=158), LeavePolicy()) \
        is ApprovalLevel.PRINCIPAL_LEADERS
    with pytest.raises(LeaveError, match="after start"):
        check_leave(LeaveType.SICK, T, T, LeavePolicy())
    strict = LeavePolicy(hall_head_max_days=0.5, district_leader_max_days=1)
    assert check_leave(LeaveType.SICK, T, T + timedelta(hours=20), strict) is ApprovalLevel.DISTRICT_LEADER
