"""The scenario bench's matching: events against ground truth by rule, window and start time."""

from __future__ import annotations

from rigs.scenarios.match import Emitted, Expected, match, percentile, summarise, totals


def truth(rule: str, start: float, window: str = "w01", scenario: str = "s") -> Expected:
    return Expected(scenario, rule, window, start)


def event(rule: str, start: float, window: str = "w01", scenario: str = "s", latency: float | None = None) -> Emitted:
    return Emitted(scenario, rule, window, start, latency_s=latency)


def test_an_event_matches_its_truth_within_the_tolerance() -> None:
    result = match([truth("absence", 10.0)], [event("absence", 12.5)], tolerance_s=3.0)
    assert [(p.expected.start, p.emitted.start, p.error) for p in result.true_positives] == [(10.0, 12.5, 2.5)]
    assert result.false_positives == [] and result.missed == []


def test_outside_the_tolerance_is_one_false_alarm_and_one_miss() -> None:
    result = match([truth("absence", 10.0)], [event("absence", 13.5)], tolerance_s=3.0)
    assert result.true_positives == []
    assert [e.start for e in result.false_positives] == [13.5]
    assert [t.start for t in result.missed] == [10.0]


def test_rule_window_and_scenario_must_all_agree() -> None:
    expected = [truth("absence", 10.0)]
    emitted = [event("unattended_no_sign", 10.0), event("absence", 10.0, window="w02"),
               event("absence", 10.0, scenario="other")]
    result = match(expected, emitted, tolerance_s=5.0)
    assert result.true_positives == []
    assert len(result.false_positives) == 3 and len(result.missed) == 1


def test_each_truth_is_matched_once_and_a_duplicate_is_a_false_positive() -> None:
    result = match([truth("phone_use", 20.0)], [event("phone_use", 20.5), event("phone_use", 21.0)], 5.0)
    assert [p.emitted.start for p in result.true_positives] == [20.5]
    assert [e.start for e in result.false_positives] == [21.0]


def test_closest_pairs_first_so_an_early_false_alarm_does_not_steal_a_match() -> None:
    # A false alarm at 7 s is within tolerance of the truth at 10 s, but the real event at 10.5 s is closer;
    # the truth at 14 s can then only take the event at 15 s.
    expected = [truth("absence", 10.0), truth("absence", 14.0)]
    emitted = [event("absence", 7.0), event("absence", 10.5), event("absence", 15.0)]
    result = match(expected, emitted, tolerance_s=4.0)
    assert sorted((p.expected.start, p.emitted.start) for p in result.true_positives) == [(10.0, 10.5), (14.0, 15.0)]
    assert [e.start for e in result.false_positives] == [7.0]
    assert result.missed == []


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert percentile([float(i) for i in range(1, 21)], 100) == 20.0
    assert percentile([1.0, 2.0], 50) == 1.0


def test_summary_per_rule() -> None:
    expected = [truth("absence", 10.0), truth("absence", 50.0), truth("absence", 90.0),
                truth("camera_obstructed", 30.0)]
    emitted = [event("absence", 11.0, latency=0.2), event("absence", 47.0, latency=0.4),
               event("absence", 70.0, latency=0.3), event("unattended_no_sign", 5.0, latency=0.9)]
    table = summarise(match(expected, emitted, tolerance_s=5.0), rules=["phone_use"])
    assert table["absence"] == {
        "tp": 2, "fp": 1, "fn": 1, "precision": 0.6667, "recall": 0.6667,
        "start_error_mean_s": 2.0, "start_error_p95_s": 3.0, "start_bias_mean_s": -1.0,
        "latency_mean_s": 0.3, "latency_p95_s": 0.4, "latency_max_s": 0.4,
    }
    assert table["camera_obstructed"]["fn"] == 1 and table["camera_obstructed"]["recall"] == 0.0
    assert table["camera_obstructed"]["precision"] is None  # nothing emitted: undefined, not perfect
    assert table["unattended_no_sign"]["precision"] == 0.0
    assert table["phone_use"] == {**table["phone_use"], "tp": 0, "fp": 0, "fn": 0, "recall": None}
    overall = totals(match(expected, emitted, tolerance_s=5.0))
    assert (overall["tp"], overall["fp"], overall["fn"]) == (2, 2, 2)
