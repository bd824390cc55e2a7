"""Discretionary points suggestion (酌情加减分, −5..+5) for a clerk's month.

A deliberately simple, explainable heuristic: the supervisor sees the reasons and may override the number
(the override is stored in the database and passed back in as :class:`PointsOverride`).

* on-post rate: ≥ 98 % +2, ≥ 95 % +1, ≥ 90 % 0, ≥ 80 % −1, below −2 (no rate: 0);
* confirmed violations: −1 each, at most −3;
* punctuality: −1 per two late arrivals / early departures, at most −2; −1 per day absent all day
  without approved leave, at most −2;
* a clean month (on duty, rate ≥ 95 %, no violations, never late, early or absent, no unexcused time): +1;
* the sum is clamped to −5..+5.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_POINTS, MAX_POINTS = -5, 5


@dataclass(frozen=True)
class Suggestion:
    points: int
    reasons: tuple[str, ...]


def _rate_points(rate: float | None) -> int:
    if rate is None:
        return 0
    for floor, points in ((0.98, 2), (0.95, 1), (0.90, 0), (0.80, -1)):
        if rate >= floor:
            return points
    return -2


def suggest_points(
    *,
    days_on_duty: int,
    on_post_rate: float | None,
    violations: int,
    late_days: int,
    early_days: int,
    absent_days: int,
    unexcused_seconds: int,
) -> Suggestion:
    if days_on_duty == 0:
        return Suggestion(0, ("无排班 no duty this month",))
    reasons: list[str] = []
    total = 0

    rate_pts = _rate_points(on_post_rate)
    if on_post_rate is not None:
        total += rate_pts
        reasons.append(f"在岗率 on-post rate {on_post_rate:.1%}: {rate_pts:+d}")
    if violations:
        pts = -min(violations, 3)
        total += pts
        reasons.append(f"违规 {violations} confirmed violation(s): {pts:+d}")
    if late_days + early_days >= 2:
        pts = -min((late_days + early_days) // 2, 2)
        total += pts
        reasons.append(f"迟到/早退 late {late_days} / early {early_days} day(s): {pts:+d}")
    if absent_days:
        pts = -min(absent_days, 2)
        total += pts
        reasons.append(f"全天未到岗 absent {absent_days} day(s): {pts:+d}")
    clean = (
        on_post_rate is not None and on_post_rate >= 0.95 and not violations
        and not (late_days or early_days or absent_days) and unexcused_seconds == 0
    )
    if clean:
        total += 1
        reasons.append("全勤无违规 clean month: +1")
    return Suggestion(max(MIN_POINTS, min(MAX_POINTS, total)), tuple(reasons))
