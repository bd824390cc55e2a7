"""Which windows get a detector pass on this frame, so that inference is spent only where it changes an outcome.

The rules step on every analysis frame; what they see on a frame without a pass is the window's last
detections (the picture is, within the change detector's tolerance, the one those were computed on).
Each rule states the analysis rate it needs (:data:`RULE_RATES`): the presence rules (absence, unattended,
customer waiting, the sign) at ``presence_hz``, the behaviour votes (phone, eating, slippers) at
``behaviour_hz`` but only while a clerk is present. A window's rate is the highest among its rules that
apply in its current state, and a pass is due when:

- it never had one, the model changed, or the gate is off (``forced``: every window, every frame);
- the window is *unsettled*: its held detections disagree with the debounced presence (a clerk seen but
  not yet counted as arrived, or counted present but missed) after a real change. Then every frame, as
  without a gate, so that the hysteresis is resolved on fresh looks;
- the window is *confirming*: a pass on a picture the change detector calls unchanged disagreed with
  the debounced presence. The picture is the one an agreeing pass judged, so that is the detector's
  flicker until it says so again: re-checked at ``presence_hz``, not every frame (the pipeline holds the
  agreeing detections meanwhile and accepts the disagreement only when it persists). A change while
  confirming is looked at at once;
- its crop changed and its rate is due;
- ``keepalive_s`` passed since the last pass: a still clerk is re-checked, never lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from broker.payloads import Rule
from edge.settings import AnalysisSettings


class RateClass(StrEnum):
    PRESENCE = "presence"  # absence / unattended / customers / sign: ~1 Hz is enough for their holds
    BEHAVIOUR = "behaviour"  # K-of-N votes: a few Hz, so a vote is reached within ~1 s


@dataclass(frozen=True, slots=True)
class RuleRate:
    rate: RateClass
    while_present: bool  # only needs looks while a clerk is there


RULE_RATES: dict[Rule, RuleRate] = {
    Rule.UNATTENDED_NO_SIGN: RuleRate(RateClass.PRESENCE, False),
    Rule.ABSENCE_OVER_30MIN: RuleRate(RateClass.PRESENCE, False),
    Rule.CUSTOMER_WAITING_UNATTENDED: RuleRate(RateClass.PRESENCE, False),
    Rule.SLIPPERS: RuleRate(RateClass.BEHAVIOUR, True),
    Rule.EATING: RuleRate(RateClass.BEHAVIOUR, True),
    Rule.PHONE_USE: RuleRate(RateClass.BEHAVIOUR, True),
    # Camera health comes from the frames themselves (edge/health.py), not from the detector.
}
DEFAULT_RATE = RuleRate(RateClass.BEHAVIOUR, True)  # a rule added later without an entry: looked at like a vote


def rate_hz(settings: AnalysisSettings, rate: RateClass) -> float:
    return settings.presence_hz if rate is RateClass.PRESENCE else settings.behaviour_hz


def window_rate(settings: AnalysisSettings, rules: tuple[Rule, ...], present: bool) -> float:
    """Detector passes per second the window's rules need in its current state."""
    rates = [RULE_RATES.get(rule, DEFAULT_RATE) for rule in rules if not rule.is_camera_health]
    return max((rate_hz(settings, r.rate) for r in rates if present or not r.while_present),
               default=settings.presence_hz)


class Reason(StrEnum):
    FIRST = "first"
    FORCED = "forced"
    UNSETTLED = "unsettled"
    MOTION = "motion"
    KEEPALIVE = "keepalive"
    CONFIRM = "confirm"  # a disagreement on an unchanged picture, re-checked at the presence rate


@dataclass
class WindowSchedule:
    settings: AnalysisSettings
    rules: tuple[Rule, ...]
    last_pass: datetime | None = None
    passes: Counter[str] = field(default_factory=Counter)  # by Reason, plus "held" for frames without one

    def decide(self, at: datetime, *, period: float, moved: bool, present: bool, unsettled: bool,
               forced: bool = False, confirming: bool = False) -> Reason | None:
        """Why the window gets a pass on the frame at ``at``, or None when its last detections stand.
        ``period``: seconds to the next analysis frame; a pass is due now when waiting for that frame would
        stretch the interval past the rate's."""
        s = self.settings
        reason: Reason | None
        if forced or not s.gate:
            reason = Reason.FORCED
        elif self.last_pass is None:
            reason = Reason.FIRST
        elif unsettled:
            reason = Reason.UNSETTLED
        else:
            late = (at - self.last_pass).total_seconds() + period - 1e-6
            if moved and (confirming or late > 1 / window_rate(s, self.rules, present)):
                reason = Reason.MOTION
            elif confirming and late > 1 / s.presence_hz:
                reason = Reason.CONFIRM
            elif late > s.keepalive_s:
                reason = Reason.KEEPALIVE
            else:
                reason = None
        self.passes[reason.value if reason else "held"] += 1
        if reason is not None:
            self.last_pass = at
        return reason

    def reset(self) -> None:
        """Blind camera or a new model: the next seeing frame gets a pass."""
        self.last_pass = None
