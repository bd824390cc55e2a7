"""Emitted events against the ground truth, per rule. Pure: no clock, no I/O.

An emitted event is a true positive when a truth event of the same rule and window is still unmatched
and their starts differ by at most the tolerance; each truth event is matched at most once. The pairs
with the smallest start error are taken first, so one early false alarm cannot steal the match from the
event that really belongs to the truth. Unmatched events are false positives, unmatched truths misses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expected:
    scenario: str
    rule: str
    window: str
    start: float
    end: float | None = None


@dataclass(frozen=True)
class Emitted:
    scenario: str
    rule: str
    window: str
    start: float  # seconds from the start of the clip
    end: float | None = None
    latency_s: float | None = None  # threshold crossed -> row committed in the dashboard database
    event_id: str = ""


@dataclass(frozen=True)
class Pair:
    expected: Expected
    emitted: Emitted

    @property
    def error(self) -> float:
        """Signed: positive when the alert says the condition began later than it did."""
        return self.emitted.start - self.expected.start


@dataclass
class MatchResult:
    true_positives: list[Pair] = field(default_factory=list)
    false_positives: list[Emitted] = field(default_factory=list)
    missed: list[Expected] = field(default_factory=list)

    def extend(self, other: MatchResult) -> None:
        self.true_positives.extend(other.true_positives)
        self.false_positives.extend(other.false_positives)
        self.missed.extend(other.missed)


def match(expected: Sequence[Expected], emitted: Sequence[Emitted], tolerance_s: float) -> MatchResult:
    def key(e: Expected | Emitted) -> tuple[str, str, str]:
        return (e.scenario, e.window, e.rule)

    result = MatchResult()
    truth_by: dict[tuple[str, str, str], list[Expected]] = defaultdict(list)
    for t in expected:
        truth_by[key(t)].append(t)
    events_by: dict[tuple[str, str, str], list[Emitted]] = defaultdict(list)
    for e in emitted:
        events_by[key(e)].append(e)
    for group in sorted(set(truth_by) | set(events_by)):
        truths, events = truth_by.get(group, []), events_by.get(group, [])
        candidates = sorted(
            (abs(ev.start - tr.start), ti, ei)
            for ti, tr in enumerate(truths) for ei, ev in enumerate(events)
            if abs(ev.start - tr.start) <= tolerance_s
        )
        used_t: set[int] = set()
        used_e: set[int] = set()
        for _, ti, ei in candidates:
            if ti in used_t or ei in used_e:
                continue
            used_t.add(ti)
            used_e.add(ei)
            result.true_positives.append(Pair(truths[ti], events[ei]))
        result.missed.extend(t for i, t in enumerate(truths) if i not in used_t)
        result.false_positives.extend(e for i, e in enumerate(events) if i not in used_e)
    return result


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarise(result: MatchResult, rules: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Per rule: tp / fp / fn, precision, recall, start error (absolute: mean, p95; signed: mean) and the
    threshold -> committed row latency (mean, p95, max) over every emitted event that has one."""
    names = sorted({*rules, *(p.expected.rule for p in result.true_positives),
                    *(e.rule for e in result.false_positives), *(t.rule for t in result.missed)})
    table: dict[str, dict[str, Any]] = {}
    for rule in names:
        pairs = [p for p in result.true_positives if p.expected.rule == rule]
        fps = [e for e in result.false_positives if e.rule == rule]
        fns = [t for t in result.missed if t.rule == rule]
        errors = [abs(p.error) for p in pairs]
        latencies = [e.latency_s for e in [*(p.emitted for p in pairs), *fps] if e.latency_s is not None]
        table[rule] = {
            "tp": len(pairs), "fp": len(fps), "fn": len(fns),
            "precision": _ratio(len(pairs), len(pairs) + len(fps)),
            "recall": _ratio(len(pairs), len(pairs) + len(fns)),
            "start_error_mean_s": _round(sum(errors) / len(errors)) if errors else None,
            "start_error_p95_s": _round(percentile(errors, 95)),
            "start_bias_mean_s": _round(sum(p.error for p in pairs) / len(pairs)) if pairs else None,
            "latency_mean_s": _round(sum(latencies) / len(latencies)) if latencies else None,
            "latency_p95_s": _round(percentile(latencies, 95)),
            "latency_max_s": _round(max(latencies)) if latencies else None,
        }
    return table


def totals(result: MatchResult) -> dict[str, Any]:
    tp, fp, fn = len(result.true_positives), len(result.false_positives), len(result.missed)
    errors = [abs(p.error) for p in result.true_positives]
    latencies = [e.latency_s for e in [*(p.emitted for p in result.true_positives), *result.false_positives]
                 if e.latency_s is not None]
    return {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "start_error_p95_s": _round(percentile(errors, 95)), "latency_p95_s": _round(percentile(latencies, 95))}
