"""Timing of every rule, fed synthetic observation streams (no camera, no clock)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from broker.payloads import EventMessage, EventPhase, Rule, StateMessage
from edge.rules import BehaviourReading, Observation, WindowRules
from edge.rules.schedule import in_service
from edge.settings import RuleThresholds, ServiceHours, TimeRange, Weekday

# Monday 2026-11-23 10:00 Asia/Shanghai = 02:00 UTC, inside the default office hours.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ALWAYS = ServiceHours(weekly={d: [TimeRange.parse("00:00-24:00")] for d in Weekday})
STEP = 0.2  # 5 fps


def engine(hours: ServiceHours = ALWAYS, **thresholds: float) -> WindowRules:
    return WindowRules(site="hall1", device="edge-a", camera="cam1", window="w12",
                       thresholds=RuleThresholds(**thresholds), hours=hours)


def run(rules: WindowRules, seconds: float, start: float = 0.0, **fields: object) -> list[EventMessage]:
    """Feed ``seconds`` of identical observations from ``start`` (seconds after T0); return events."""
    out: list[EventMessage] = []
    n = round(seconds / STEP)
    for i in range(n):
        at = T0 + timedelta(seconds=start + i * STEP)
        out.extend(m for m in rules.step(Observation(at=at, **fields)) if isinstance(m, EventMessage))  # type: ignore[arg-type]
    return out


def of(events: Iterable[EventMessage], rule: Rule) -> list[EventMessage]:
    return [e for e in events if e.rule is rule]


def test_present_clerk_raises_nothing() -> None:
    assert run(engine(), 600, present=True, staff_count=1) == []


@pytest.mark.parametrize(
    ("absent_s", "fires"),
    [(59.8, False), (60.0, False), (60.4, True), (120.0, True)],
)
def test_unattended_no_sign_threshold(absent_s: float, fires: bool) -> None:
    rules = engine()
    events = run(rules, absent_s + STEP, present=False)
    starts = [e for e in of(events, Rule.UNATTENDED_NO_SIGN) if e.phase is EventPhase.START]
    assert bool(starts) is fires
    if fires:
        assert starts[0].started_at == T0  # the event dates from when the window went empty
        assert starts[0].seq == 0


def test_unattended_ends_when_clerk_returns_with_stable_id_and_seq() -> None:
    rules = engine(update_every_s=30)
    events = run(rules, 100, present=False) + run(rules, 5, start=100, present=True)
    ours = of(events, Rule.UNATTENDED_NO_SIGN)
    assert [e.phase for e in ours] == [EventPhase.START, EventPhase.UPDATE, EventPhase.END]
    assert len({e.event_id for e in ours}) == 1
    assert [e.seq for e in ours] == [0, 1, 2]
    assert ours[-1].ended_at == T0 + timedelta(seconds=100)
    assert ours[-1].details["end_reason"] == "cleared"


def test_flicker_at_threshold_restarts_the_clock() -> None:
    """Back for one tick at 59.8 s: the absence clock starts again, no event at 60 s."""
    rules = engine()
    events = run(rules, 59.8, present=False)
    events += run(rules, STEP, start=59.8, present=True)
    events += run(rules, 59.8, start=60.0, present=False)
    assert of(events, Rule.UNATTENDED_NO_SIGN) == []
    events = run(rules, 1.0, start=119.8, present=False)
    assert [e.started_at for e in of(events, Rule.UNATTENDED_NO_SIGN)] == [T0 + timedelta(seconds=60)]


def test_sign_posted_at_second_59_prevents_the_event_but_not_the_absence_clock() -> None:
    rules = engine(absence_s=120)
    events = run(rules, 59, present=False)
    events += run(rules, 100, start=59, present=False, sign=True)
    assert of(events, Rule.UNATTENDED_NO_SIGN) == []
    absence = of(events, Rule.ABSENCE_OVER_30MIN)
    assert [e.phase for e in absence] == [EventPhase.START]
    assert absence[0].started_at == T0


def test_sign_posted_ends_open_unattended_event() -> None:
    rules = engine()
    events = run(rules, 70, present=False) + run(rules, 1, start=70, present=False, sign=True, sign_cue="aruco")
    ours = of(events, Rule.UNATTENDED_NO_SIGN)
    assert [e.phase for e in ours] == [EventPhase.START, EventPhase.END]
    assert ours[-1].details["end_reason"] == "sign_posted"


def test_absence_over_30_minutes_with_sign() -> None:
    rules = engine(update_every_s=600)
    events = run(rules, 1801, present=False, sign=True)
    absence = of(events, Rule.ABSENCE_OVER_30MIN)
    assert [e.phase for e in absence] == [EventPhase.START]
    assert absence[0].severity.value == "high"
    assert of(events, Rule.UNATTENDED_NO_SIGN) == []


def test_service_hours_ending_mid_absence_ends_event_and_resets() -> None:
    # Open 10:00-10:02 local (02:00-02:02 UTC), then closed.
    hours = ServiceHours(weekly={Weekday.MON: [TimeRange.parse("10:00-10:02")]})
    rules = engine(hours=hours)
    events = run(rules, 300, present=False)
    ours = of(events, Rule.UNATTENDED_NO_SIGN)
    assert [e.phase for e in ours] == [EventPhase.START, EventPhase.END]
    assert ours[-1].ended_at == T0 + timedelta(seconds=120)
    assert ours[-1].details["end_reason"] == "service_hours_ended"


def test_outside_service_hours_no_staff_rule_but_presence_reported() -> None:
    hours = ServiceHours(weekly={})
    rules = engine(hours=hours)
    msgs = []
    for i in range(400):
        msgs.extend(rules.step(Observation(at=T0 + timedelta(seconds=i), present=i < 10, staff_count=1)))
    assert not [m for m in msgs if isinstance(m, EventMessage)]
    states = [m for m in msgs if isinstance(m, StateMessage)]
    assert [s.present for s in states][:2] == [True, False]
    assert all(not s.in_service_hours for s in states)


def test_camera_blind_mid_absence_ends_absence_and_raises_camera_event() -> None:
    rules = engine(camera_blind_s=10)
    events = run(rules, 70, present=False)
    events += run(rules, 30, start=70, observed=False, blind_status="offline")
    unattended = of(events, Rule.UNATTENDED_NO_SIGN)
    assert [e.phase for e in unattended] == [EventPhase.START, EventPhase.END]
    assert unattended[-1].details["end_reason"] == "camera_blind"
    offline = of(events, Rule.CAMERA_OFFLINE)
    assert [e.phase for e in offline] == [EventPhase.START]
    assert offline[0].started_at == T0 + timedelta(seconds=70)
    # Back on, still nobody: the absence clock starts again from when the camera came back.
    events = run(rules, 61, start=100, present=False)
    assert [e.phase for e in of(events, Rule.CAMERA_OFFLINE)] == [EventPhase.END]
    restarted = of(events, Rule.UNATTENDED_NO_SIGN)
    assert [e.started_at for e in restarted] == [T0 + timedelta(seconds=100)]


def test_camera_event_dates_from_when_the_camera_went_blind() -> None:
    """A frozen picture is recognised only after frozen_after_s; its event starts when the picture froze."""
    rules = engine(camera_blind_s=5)
    froze = T0 + timedelta(seconds=3)
    events = run(rules, 10, start=20, observed=False, blind_status="frozen", blind_since=froze)
    offline = of(events, Rule.CAMERA_OFFLINE)
    assert [e.phase for e in offline] == [EventPhase.START]
    assert offline[0].started_at == froze
    assert offline[0].sent_at == T0 + timedelta(seconds=20)  # sent at once: blind longer than the hold already
    # Staff rules never take the camera's date.
    staff = engine(unattended_s=5)
    events = run(staff, 10, start=20, present=False, blind_since=froze)
    assert [e.started_at for e in of(events, Rule.UNATTENDED_NO_SIGN)] == [T0 + timedelta(seconds=20)]


def test_blind_camera_never_reports_absence() -> None:
    rules = engine(absence_s=60)
    events = run(rules, 3600, observed=False, blind_status="obstructed")
    assert {e.rule for e in events} == {Rule.CAMERA_OBSTRUCTED}


def test_customer_waiting_unattended_is_high_severity() -> None:
    rules = engine(unattended_s=1000)
    events = run(rules, 61, present=False, customers=1)
    ours = of(events, Rule.CUSTOMER_WAITING_UNATTENDED)
    assert [e.phase for e in ours] == [EventPhase.START]
    assert ours[0].severity.value == "high"
    assert of(run(engine(), 200, present=True, customers=2), Rule.CUSTOMER_WAITING_UNATTENDED) == []


ACTIVE = BehaviourReading(active=True, confidence=0.8, subtype="call")


@pytest.mark.parametrize(
    ("rule", "field", "hold"),
    [(Rule.SLIPPERS, "slippers", 10.0), (Rule.EATING, "eating", 10.0), (Rule.PHONE_USE, "phone", 30.0),
     (Rule.DOZING, "dozing", 120.0)],
)
@pytest.mark.parametrize("extra", [-0.4, 0.4])
def test_behaviour_thresholds(rule: Rule, field: str, hold: float, extra: float) -> None:
    rules = engine(slippers_enabled=True)
    events = run(rules, hold + extra + STEP, present=True, **{field: ACTIVE})
    ours = of(events, rule)
    assert bool(ours) is (extra > 0)
    if ours:
        assert ours[0].subtype == "call" and ours[0].confidence == pytest.approx(0.8)
        end = of(run(rules, 1, start=hold + 1, present=True), rule)
        assert [e.phase for e in end] == [EventPhase.END]


def test_slipper_rule_is_experimental_and_off_by_default() -> None:
    """No real on-feet data trained the slipper class: the rule raises nothing unless a site enables it."""
    assert of(run(engine(), 30, present=True, slippers=ACTIVE), Rule.SLIPPERS) == []
    assert of(run(engine(slippers_enabled=True), 30, present=True, slippers=ACTIVE), Rule.SLIPPERS)


def test_dozing_hold_is_configurable() -> None:
    """睡岗 after dozing_s of head-down / asleep readings (default 2 min); a shorter setting fires sooner."""
    assert not of(run(engine(), 60 + STEP, present=True, dozing=ACTIVE), Rule.DOZING)
    assert of(run(engine(dozing_s=60), 60.4 + STEP, present=True, dozing=ACTIVE), Rule.DOZING)


def test_late_evidence_goes_out_as_next_seq() -> None:
    from broker.payloads import EvidenceRef

    rules = engine()
    events = run(rules, 61, present=False) + run(rules, 1, start=61, present=True)
    ours = of(events, Rule.UNATTENDED_NO_SIGN)
    ref = EvidenceRef(kind="clip", id="clip-1", sha256="0" * 64, content_type="video/mp4", size=1)
    late = rules.attach_evidence(ours[0].event_id, [ref], T0 + timedelta(seconds=75))
    assert late is not None and late.phase is EventPhase.END and late.seq == ours[-1].seq + 1
    assert late.evidence == [ref] and late.ended_at == ours[-1].ended_at


def test_close_all_ends_open_events() -> None:
    rules = engine()
    run(rules, 61, present=False)
    ends = rules.close_all(T0 + timedelta(seconds=62))
    assert {e.rule for e in ends} == {Rule.UNATTENDED_NO_SIGN}
    assert all(e.phase is EventPhase.END for e in ends)


def test_state_messages_on_change_and_refresh() -> None:
    rules = WindowRules(site="hall1", device="edge-a", camera="cam1", window="w12",
                        thresholds=RuleThresholds(), hours=ALWAYS, state_refresh_s=60)
    states = []
    for i in range(0, 130):
        obs = Observation(at=T0 + timedelta(seconds=i), present=i >= 5, staff_count=int(i >= 5))
        states.extend(m for m in rules.step(obs) if isinstance(m, StateMessage))
    assert [(s.present, (s.at - T0).seconds) for s in states] == [(False, 0), (True, 5), (True, 65), (True, 125)]
    assert states[-1].changed_at == T0 + timedelta(seconds=5)
    assert len({s.state_id for s in states}) == len(states)


# -- service hours ------------------------------------------------------------------------------------

def local(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Shanghai"))


HOURS = ServiceHours(
    breaks=[TimeRange.parse("12:00-13:30")],
    holidays=[date(2026, 10, 1)],
    workdays={date(2026, 10, 10): Weekday.MON},  # a Saturday worked as a Monday
)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2026, 11, 23, 9, 0), True),     # Monday opening
        (local(2026, 11, 23, 8, 59), False),
        (local(2026, 11, 23, 12, 30), False),  # lunch break
        (local(2026, 11, 23, 17, 29), True),
        (local(2026, 11, 23, 17, 30), False),  # closing is exclusive
        (local(2026, 11, 22, 10, 0), False),   # Sunday
        (local(2026, 10, 1, 10, 0), False),    # holiday (a Thursday)
        (local(2026, 10, 10, 10, 0), True),    # make-up working Saturday
    ],
)
def test_service_hours(at: datetime, expected: bool) -> None:
    assert in_service(HOURS, at.astimezone(UTC)) is expected


def test_service_hours_reject_bad_ranges() -> None:
    with pytest.raises(ValueError, match="ends before"):
        TimeRange.parse("12:00-11:00")
    with pytest.raises(ValueError, match="time zone"):
        ServiceHours(timezone="Mars/Olympus")

