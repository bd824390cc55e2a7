"""`counterwatch bench broker` runs end to end and reports every message delivered (no speed asserted)."""

from __future__ import annotations

import json

import pytest

from counterwatch.cli import main as counterwatch


@pytest.mark.integration
@pytest.mark.parametrize(("publishers", "subscribers"), [(1, 1), (2, 2)])
def test_broker_bench_prints_its_json(publishers: int, subscribers: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "broker", "--messages", "300", "--publishers", str(publishers),
            "--subscribers", str(subscribers)]
    assert counterwatch(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["delivered"] == result["messages"] == 300
    assert result["shared_subscription"] is (subscribers > 1)
    assert result["published_per_s"] > 0 and result["broker_cpu_s"] >= 0
