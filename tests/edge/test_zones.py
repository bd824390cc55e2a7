"""Zones (normalised polygons) and presence with inertia."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.behaviours import Vote, eating_score, phone_score, slippers_score
from edge.detect import Detection
from edge.zones import PresenceFilter, Zone, points_in_polygon, union_bbox

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SIZE = (1000, 500)
# An L-shaped (non-convex) staff zone.
L_SHAPE = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.3), (0.3, 0.3), (0.3, 0.9), (0.1, 0.9)]


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [(150, 100, True), (400, 100, True), (400, 300, False), (200, 400, True), (600, 100, False), (50, 50, False)],
)
def test_point_in_non_convex_polygon(x: float, y: float, inside: bool) -> None:
    assert Zone(L_SHAPE, SIZE).contains(x, y) is inside


def test_vectorised_points() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    pts = np.array([[5, 5], [15, 5], [-1, -1], [9.9, 9.9]], float)
    assert points_in_polygon(pts, square).tolist() == [True, False, False, True]


def test_anchor_modes() -> None:
    zone = Zone([(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)], SIZE)  # bottom half
    standing = (100.0, 100.0, 200.0, 300.0)  # feet at y=300 (inside), mostly above the zone
    assert zone.holds(standing, "bottom_centre")
    assert not zone.holds(standing, "area", 0.5)
    assert zone.overlap((0.0, 250.0, 100.0, 500.0)) == 1.0


def test_union_bbox_is_padded_and_clipped() -> None:
    zones = [Zone([(0.1, 0.1), (0.2, 0.1), (0.2, 0.2)], SIZE), Zone([(0.8, 0.8), (0.99, 0.8), (0.99, 0.99)], SIZE)]
    x1, y1, x2, y2 = union_bbox(zones, 0.1, SIZE)
    assert (x1, y1) == (11, 5)  # 100 - 0.1 * 890, 50 - 0.1 * 445
    assert (x2, y2) == (1000, 500)


def test_zone_coordinates_are_validated() -> None:
    from pydantic import ValidationError

    from edge.settings import Zones

    with pytest.raises(ValidationError, match=r"outside 0\.\.1"):
        Zones(staff=[(0.1, 0.1), (1.2, 0.1), (0.5, 0.5)])
    with pytest.raises(ValidationError, match="at least 3"):
        Zones(staff=[(0.1, 0.1), (0.2, 0.1)])


def feed(f: PresenceFilter, seconds: float, count: int, start: float, step: float = 0.2) -> list[bool]:
    return [f.update(T0 + timedelta(seconds=start + i * step), count)[0] for i in range(round(seconds / step))]


def test_presence_needs_enter_time_and_survives_dropouts() -> None:
    f = PresenceFilter(enter_s=1.0, leave_s=3.0)
    assert feed(f, 0.8, 1, 0) == [False] * 4
    assert feed(f, 0.4, 1, 0.8)[-1] is True
    # Missed detections for 2.8 s (less than leave_s): still present the whole time.
    assert all(feed(f, 2.8, 0, 1.2))
    assert all(feed(f, 1.0, 1, 4.0))
    # Really gone: absent once unseen for leave_s.
    states = feed(f, 4.0, 0, 5.0)
    assert states[0] is True and states[-1] is False
    assert states.index(False) == pytest.approx(14, abs=1)  # 3 s after the last sighting at 4.8 s


def test_clerk_sitting_still_for_an_hour_stays_present() -> None:
    f = PresenceFilter(enter_s=1.0, leave_s=3.0)
    assert all(feed(f, 3600, 1, 0, step=1.0)[2:])


def test_single_frame_flicker_does_not_make_presence() -> None:
    f = PresenceFilter(enter_s=1.0, leave_s=3.0)
    out = [f.update(T0 + timedelta(seconds=i * 0.2), 1 if i == 5 else 0)[0] for i in range(30)]
    assert not any(out)


def test_multi_staff_count_uses_recent_maximum() -> None:
    f = PresenceFilter(enter_s=0.0, leave_s=3.0)
    f.update(T0, 2)
    present, count = f.update(T0 + timedelta(seconds=1), 1)  # one clerk briefly hidden by the other
    assert present and count == 2
    assert f.update(T0 + timedelta(seconds=5), 1) == (True, 1)


def person(box: tuple[float, float, float, float], score: float = 0.9) -> Detection:
    return Detection("person", score, box)


def test_phone_subtypes_and_eating_and_slippers() -> None:
    clerk = person((100, 100, 200, 400))
    near_head = Detection("phone", 0.8, (140, 110, 160, 140))
    in_hand = Detection("phone", 0.7, (140, 300, 160, 330))
    elsewhere = Detection("phone", 0.99, (500, 300, 520, 330))
    assert phone_score([clerk], [near_head]) == (0.8, "call")
    assert phone_score([clerk], [in_hand]) == (0.7, "browse")
    assert phone_score([clerk], [elsewhere]) == (0.0, None)
    assert eating_score([clerk], [Detection("food", 0.6, (140, 150, 160, 170))]) == 0.6
    assert eating_score([clerk], [Detection("food", 0.6, (140, 390, 160, 410))]) == 0.0  # on the desk
    floor = Zone([(0.0, 0.8), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0)], SIZE)
    assert slippers_score([Detection("slipper", 0.7, (100, 420, 140, 450))], floor) == 0.7
    assert slippers_score([Detection("shoe", 0.9, (100, 420, 140, 450))], floor) == 0.0
    assert slippers_score([Detection("slipper", 0.7, (100, 100, 140, 130))], floor) == 0.0


def test_k_of_n_vote() -> None:
    vote = Vote(k=3, n=5)
    readings = [vote.update(s, "call" if s else None) for s in (0.9, 0, 0.8, 0, 0.7)]
    assert [r.active for r in readings] == [False, False, False, False, True]
    assert readings[-1].confidence == pytest.approx(0.8)
    assert readings[-1].subtype == "call"
    assert vote.update(0).active is False  # the 0.9 fell out of the last five
