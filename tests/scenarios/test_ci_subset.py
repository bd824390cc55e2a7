"""The short scenario subset (``ci: true``) through the real edge node, Mosquitto and ingest process: each
clip must produce exactly its ground-truth events, no more and no fewer, each starting within the
scenario's tolerance of the truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigs.scenarios.bench import run_scenarios, selected


@pytest.mark.e2e
@pytest.mark.integration
@pytest.mark.slow
def test_ci_scenarios_emit_exactly_their_ground_truth(tmp_path: Path, shared_dir: Path) -> None:
    scenarios = selected(None, ci_only=True)
    assert len(scenarios) >= 3
    work = tmp_path / "work"
    work.mkdir()
    report = run_scenarios(scenarios, work, clips_dir=tmp_path / "clips", shared=shared_dir / "datasets")
    for sc in scenarios:
        got = report["scenarios"][sc.name]
        emitted = sorted((e["rule"], e["window"]) for e in got["events"])
        expected = sorted((t.rule.value, t.window) for t in sc.truth)
        assert emitted == expected, (sc.name, got)
        assert (got["fp"], got["fn"]) == (0, 0), (sc.name, got)
        assert all(abs(e["error_s"]) <= sc.tolerance_s for e in got["start_errors"]), (sc.name, got)
    assert report["total"]["fp"] == 0 and report["total"]["fn"] == 0
