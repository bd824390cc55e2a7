"""`counterwatch up` starts the whole system: broker, dashboard on SQLite and an edge node on the bundled
sample clip; the edge's presence state reaches the dashboard's database through the real broker."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.mosquitto import free_port


@pytest.mark.e2e
@pytest.mark.slow
def test_up_runs_the_whole_system(tmp_path: Path) -> None:
    data = tmp_path / "up"
    proc = subprocess.run(
        [sys.executable, "-m", "counterwatch.cli", "up", "--data-dir", str(data), "--max-seconds", "45",
         "--mqtt-port", str(free_port()), "--http-port", str(free_port())],
        capture_output=True, text=True, timeout=400,
    )
    logs = "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted((data / "logs").glob("*.log")))
    assert proc.returncode == 0, proc.stderr[-3000:] + logs
    assert "CounterWatch is running." in proc.stdout
    assert "password" in proc.stdout  # the first admin's credentials are printed

    with sqlite3.connect(data / "dashboard.db") as db:
        devices = db.execute("select count(*) from device").fetchone()[0]
        states = db.execute("select count(*) from state_change").fetchone()[0]
        rejects = db.execute("select count(*) from dead_letter").fetchone()[0]
    assert devices == 1
    assert states >= 1, logs  # the edge's retained window state was ingested
    assert rejects == 0, logs
    # Delivery receipts come back through the default broker: nothing the broker acknowledged more than
    # 10 s before the system stopped still waits for one (a receipt-less path would leave every row).
    with sqlite3.connect(data / "edge-outbox.sqlite") as outbox:
        waiting, stale = outbox.execute(
            "SELECT COUNT(*), COALESCE(SUM(acked_at < ?), 0) FROM messages WHERE acked_at IS NOT NULL",
            (time.time() - 10,)).fetchone()
    assert stale == 0, (waiting, stale, logs)
