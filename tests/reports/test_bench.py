"""``counterwatch bench report`` runs end to end on a small hall and prints JSON (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from counterwatch.cli import main


@pytest.mark.integration
def test_bench_report_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "report", "--clerks", "3", "--repeat", "1", "--database", "sqlite"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bench"] == "report" and out["clerks"] == 3
    assert out["day_rows"] == 3 * 30 == out["database"]["day_rows"]
    assert out["database"]["presence_rows_loaded"] == out["inputs"]["presence_intervals"] > 0
    assert out["build_s"]["best"] >= 0 and out["xlsx_bytes"] > 0
