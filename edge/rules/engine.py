"""Per-window rule engine.

Each rule is a condition on the (already debounced) observation and a hold time: the event starts once
the condition has held *continuously* for longer than the hold time, with ``started_at`` = the moment the
condition began (so "unattended since 10:02:58" reads naturally), and ends the first tick it no longer
holds. Staff rules are judged only in service hours on a seeing camera: a blind camera or the end of
service hours ends an open staff event (``end_reason``) and resets its clock, it never extends an absence.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from broker.payloads import (
    EventMessage,
    EventPhase,
    EvidenceRef,
    Rule,
    Severity,
    StateMessage,
)
from edge.rules.schedule import in_service
from edge.settings import RuleThresholds, ServiceHours

BLIND_OFFLINE = frozenset({"offline", "frozen"})
BLIND_OBSTRUCTED = frozenset({"obstructed", "dark"})


@dataclass(frozen=True, slots=True)
class BehaviourReading:
    active: bool = False
    confidence: float = 0.0
    subtype: str | None = None


NO_BEHAVIOUR = BehaviourReading()
SignCue = Literal["aruco", "ocr", "detector"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What the vision stages concluded about one window at one instant (UTC)."""

    at: datetime
    observed: bool = True
    blind_status: str | None = None  # camera health status while not observed
    blind_since: datetime | None = None  # when that status's condition began (a frozen picture: its last change)
    present: bool = False
    staff_count: int = 0
    presence_confidence: float = 1.0
    customers: int = 0
    sign: bool = False
    sign_cue: SignCue | None = None
    slippers: BehaviourReading = NO_BEHAVIOUR
    eating: BehaviourReading = NO_BEHAVIOUR
    phone: BehaviourReading = NO_BEHAVIOUR
    dozing: BehaviourReading = NO_BEHAVIOUR


Condition = Callable[[Observation], bool]


@dataclass(frozen=True)
class RuleSpec:
    rule: Rule
    severity: Severity
    hold_s: float
    condition: Condition
    staff_rule: bool = True
    reading: Callable[[Observation], BehaviourReading] | None = None


def rule_specs(t: RuleThresholds) -> list[RuleSpec]:
    specs = [
        RuleSpec(Rule.UNATTENDED_NO_SIGN, Severity.MEDIUM, t.unattended_s, lambda o: not o.present and not o.sign),
        RuleSpec(Rule.ABSENCE_OVER_30MIN, Severity.HIGH, t.absence_s, lambda o: not o.present),
        RuleSpec(
            Rule.CUSTOMER_WAITING_UNATTENDED, Severity.HIGH, t.customer_waiting_s,
            lambda o: o.customers > 0 and not o.present,
        ),
        RuleSpec(Rule.SLIPPERS, Severity.LOW, t.slippers_s, lambda o: o.slippers.active,
                 reading=lambda o: o.slippers),
        RuleSpec(Rule.EATING, Severity.LOW, t.eating_s, lambda o: o.eating.active, reading=lambda o: o.eating),
        RuleSpec(Rule.PHONE_USE, Severity.MEDIUM, t.phone_s, lambda o: o.phone.active, reading=lambda o: o.phone),
        RuleSpec(Rule.DOZING, Severity.MEDIUM, t.dozing_s, lambda o: o.dozing.active, reading=lambda o: o.dozing),
        RuleSpec(Rule.CAMERA_OFFLINE, Severity.MEDIUM, t.camera_blind_s,
                 lambda o: not o.observed and o.blind_status in BLIND_OFFLINE, staff_rule=False),
        RuleSpec(Rule.CAMERA_OBSTRUCTED, Severity.MEDIUM, t.camera_blind_s,
                 lambda o: not o.observed and o.blind_status in BLIND_OBSTRUCTED, staff_rule=False),
    ]
    return [s for s in specs if s.rule is not Rule.SLIPPERS or t.slippers_enabled]


def stable_id(*parts: object) -> str:
    """Deterministic id (32 hex): the same event re-derived after a restart keeps its id."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:32]


@dataclass
class OpenEvent:
    event_id: str
    rule: Rule
    severity: Severity
    started_at: datetime
    seq: int = 0
    confidence: float = 0.0
    subtype: str | None = None
    evidence: list[EvidenceRef] = field(default_factory=list)
    last_sent: datetime | None = None
    ended_at: datetime | None = None
    details: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass
class _RuleState:
    spec: RuleSpec
    onset: datetime | None = None
    open: OpenEvent | None = None


@dataclass(frozen=True)
class _StateKey:
    present: bool
    staff_count: int
    sign: bool
    customers: int
    in_service: bool
    observed: bool


class WindowRules:
    """All rules of one window. Feed :meth:`step` observations in time order."""

    def __init__(
        self,
        *,
        site: str,
        device: str,
        camera: str,
        window: str,
        thresholds: RuleThresholds,
        hours: ServiceHours,
        state_refresh_s: float = 300.0,
        model_version: str | None = None,
    ) -> None:
        self.site, self.device, self.camera, self.window = site, device, camera, window
        self.hours = hours
        self.update_every = timedelta(seconds=thresholds.update_every_s)
        self.state_refresh = timedelta(seconds=state_refresh_s)
        self.model_version = model_version
        self._rules = [_RuleState(spec) for spec in rule_specs(thresholds)]
        self._closed: OrderedDict[str, OpenEvent] = OrderedDict()  # recent, for late evidence
        self._state: _StateKey | None = None
        self._state_changed_at: datetime | None = None
        self._state_sent_at: datetime | None = None
        self._last_at: datetime | None = None

    # -- public -------------------------------------------------------------------------------------------

    def step(self, obs: Observation) -> list[EventMessage | StateMessage]:
        if self._last_at is not None and obs.at < self._last_at:
            obs = replace(obs, at=self._last_at)  # a clock step backwards must not reorder lifecycles
        self._last_at = obs.at
        serving = in_service(self.hours, obs.at)
        out: list[EventMessage | StateMessage] = []
        for state in self._rules:
            out.extend(self._step_rule(state, obs, serving))
        state_msg = self._state_message(obs, serving)
        if state_msg is not None:
            out.append(state_msg)
        return out

    def close_all(self, at: datetime, reason: str = "shutdown") -> list[EventMessage]:
        """End every open event (node stopping, source ended)."""
        out = []
        for state in self._rules:
            if state.open is not None:
                out.append(self._end(state, at, reason))
            state.onset = None
        return out

    def attach_evidence(self, event_id: str, refs: list[EvidenceRef], at: datetime) -> EventMessage | None:
        """Evidence finished after the event message went out: send it as the event's next message
        (an ``update`` while open, a repeated ``end`` with a higher seq once closed)."""
        event = next((s.open for s in self._rules if s.open and s.open.event_id == event_id), None)
        phase = EventPhase.UPDATE
        if event is None:
            event = self._closed.get(event_id)
            phase = EventPhase.END
        if event is None:
            return None
        known = {r.id for r in event.evidence}
        event.evidence.extend(r for r in refs if r.id not in known)
        event.evidence = event.evidence[-8:]
        return self._message(event, phase, at)

    def record_evidence(self, event_id: str, refs: list[EvidenceRef]) -> None:
        """Remember evidence already sent inside a message (the snapshot that rides on ``start``)."""
        event = next((s.open for s in self._rules if s.open and s.open.event_id == event_id), None)
        if event is not None:
            event.evidence.extend(refs)

    def open_events(self) -> list[OpenEvent]:
        return [s.open for s in self._rules if s.open is not None]

    # -- rules --------------------------------------------------------------------------------------------

    def _step_rule(self, state: _RuleState, obs: Observation, serving: bool) -> list[EventMessage]:
        spec = state.spec
        judged = not spec.staff_rule or (serving and obs.observed)
        holds = judged and spec.condition(obs)
        if not holds:
            state.onset = None
            if state.open is None:
                return []
            reason = "cleared"
            if not judged:
                reason = "camera_blind" if not obs.observed else "service_hours_ended"
            elif spec.rule is Rule.UNATTENDED_NO_SIGN and obs.sign and not obs.present:
                reason = "sign_posted"
            return [self._end(state, obs.at, reason)]

        reading = spec.reading(obs) if spec.reading else None
        confidence = reading.confidence if reading else obs.presence_confidence
        if state.onset is None:
            # A camera-health event dates from when the camera went blind, not from when that was recognised.
            began = obs.blind_since if not spec.staff_rule and obs.blind_since is not None else obs.at
            state.onset = min(began, obs.at)
        if state.open is None:
            held = (obs.at - state.onset).total_seconds()
            if held <= spec.hold_s:
                return []
            event = OpenEvent(
                event_id=stable_id(self.site, self.device, self.camera, self.window, spec.rule,
                                   state.onset.isoformat()),
                rule=spec.rule, severity=spec.severity, started_at=state.onset,
                confidence=confidence, subtype=reading.subtype if reading else None,
                details={"hold_s": spec.hold_s},
            )
            if not obs.observed and obs.blind_status:
                event.details["camera_status"] = obs.blind_status
            state.open = event
            return [self._message(event, EventPhase.START, obs.at)]
        event = state.open
        event.confidence = max(event.confidence, confidence)
        if event.subtype is None and reading is not None and reading.subtype:
            event.subtype = reading.subtype
        if event.last_sent is not None and obs.at - event.last_sent >= self.update_every:
            return [self._message(event, EventPhase.UPDATE, obs.at)]
        return []

    def _end(self, state: _RuleState, at: datetime, reason: str) -> EventMessage:
        event = state.open
        assert event is not None
        state.open = None
        event.ended_at = max(at, event.started_at)
        event.details["end_reason"] = reason
        self._closed[event.event_id] = event
        while len(self._closed) > 64:
            self._closed.popitem(last=False)
        return self._message(event, EventPhase.END, at)

    def _message(self, event: OpenEvent, phase: EventPhase, at: datetime) -> EventMessage:
        if event.last_sent is not None or event.seq > 0:
            event.seq += 1
        event.last_sent = at
        end = event.ended_at if phase is EventPhase.END else None
        details = dict(event.details)
        details["duration_s"] = round(((end or at) - event.started_at).total_seconds(), 3)
        return EventMessage(
            site=self.site, device=self.device, camera=self.camera, window=self.window,
            event_id=event.event_id, seq=event.seq, phase=phase, rule=event.rule, severity=event.severity,
            started_at=event.started_at, ended_at=end, sent_at=at,
            confidence=min(1.0, max(0.0, event.confidence)), subtype=event.subtype,
            evidence=list(event.evidence), model_version=self.model_version, details=details,
        )

    # -- state --------------------------------------------------------------------------------------------

    def _state_message(self, obs: Observation, serving: bool) -> StateMessage | None:
        key = _StateKey(
            present=obs.present and obs.observed, staff_count=obs.staff_count if obs.observed else 0,
            sign=obs.sign and obs.observed, customers=obs.customers if obs.observed else 0,
            in_service=serving, observed=obs.observed,
        )
        if key != self._state:
            self._state, self._state_changed_at = key, obs.at
        elif self._state_sent_at is not None and obs.at - self._state_sent_at < self.state_refresh:
            return None
        self._state_sent_at = obs.at
        assert self._state_changed_at is not None
        return StateMessage(
            site=self.site, device=self.device, camera=self.camera, window=self.window,
            state_id=stable_id(self.site, self.device, self.camera, self.window, "state", obs.at.isoformat()),
            at=obs.at, changed_at=self._state_changed_at, present=key.present, staff_count=key.staff_count,
            sign=key.sign, sign_cue=obs.sign_cue if key.sign else None,
            customers=key.customers, in_service_hours=serving, observed=key.observed,
        )
