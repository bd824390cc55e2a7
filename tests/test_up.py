"""`counterwatch up` with no arguments starts the whole system on the shipped demo (broker, dashboard on
SQLite, an edge node on two looping clips of real people with demo thresholds and a demo roster). A
newcomer's first minutes, through the real stack: an alert arrives on its own, can be acknowledged, its
clip plays, it can be confirmed, and the month's report counts it; every page says it is demo data."""

from __future__ import annotations

import contextlib
import io
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import httpx
import pytest

from broker.mosquitto import free_port


def _wait_line(proc: subprocess.Popen[str], pattern: str, timeout: float, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if (m := re.search(pattern, line)) is not None:
            return m
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)}")


def _logs(data: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted((data / "logs").glob("*.log")))


@pytest.mark.e2e
@pytest.mark.slow
def test_up_demo_alert_ack_clip_confirm_report(tmp_path: Path) -> None:
    data = tmp_path / "up"
    http_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "counterwatch.cli", "up", "--data-dir", str(data), "--max-seconds", "420",
         "--mqtt-port", str(free_port()), "--http-port", str(http_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []
    try:
        password = _wait_line(proc, r"admin\s+user admin, password (\S+)", 180, seen).group(1)
        assert "demo data" in _wait_line(proc, r"edge source .*", 10, seen).group(0)
        base = f"http://127.0.0.1:{http_port}"
        with httpx.Client(base_url=base, timeout=20) as web:
            login = web.post("/api/v1/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200, login.text
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}

            # Window 2's clerk walks off without the sign 5 s into the loop: an alert with its clip, unasked.
            alert = _wait_for_alert(web, proc, data)
            assert alert["attributions"], "the demo roster has window 2 staffed around the clock"

            ack = web.post(f"/api/v1/events/{alert['event_id']}/ack", json={"note": "demo"}, headers=csrf)
            assert ack.status_code == 201, ack.text
            clip = next(r for r in alert["evidence"] if r["kind"] == "clip")
            body = web.get(f"/api/v1/evidence/{clip['id']}")
            assert body.status_code == 200 and body.headers["content-type"].startswith("video/mp4")
            with av.open(io.BytesIO(body.content), "r") as container:
                frames = len(list(container.decode(video=0)))
            assert frames >= 10, "the alert's clip plays"
            review_page = web.get(f"/review/{alert['id']}")
            assert review_page.status_code == 200 and "<video" in review_page.text
            assert "演示数据" in review_page.text and "Demo data" in review_page.text

            confirm = web.post(f"/api/v1/events/{alert['event_id']}/reviews", json={"verdict": "confirm"},
                               headers=csrf)
            assert confirm.status_code == 201, confirm.text
            now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
            report = web.get("/api/v1/reports/monthly",
                             params={"site": "hall1", "year": now.year, "month": now.month})
            assert report.status_code == 200, report.text
            counted = [v for v in report.json()["violations"] if v["event_id"] == alert["event_id"]]
            assert [(v["rule"], v["window_id"]) for v in counted] == [("unattended_no_sign", "w02")]
            assert counted[0]["staff_id"] is not None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen) + _logs(data)

    with sqlite3.connect(data / "dashboard.db") as db:
        rejects = db.execute("select count(*) from dead_letter").fetchone()[0]
        windows = {r[0] for r in db.execute("select w.code from state_change s join window w on w.id = s.window_id")}
    assert rejects == 0, _logs(data)
    assert windows == {"w01", "w02", "w03", "w04"}, "every demo window is observed by a camera"
    # Delivery receipts come back through the default broker: nothing the broker acknowledged more than
    # 10 s before the system stopped still waits for one (a receipt-less path would leave every row).
    with sqlite3.connect(data / "edge-outbox.sqlite") as outbox:
        waiting, stale = outbox.execute(
            "SELECT COUNT(*), COALESCE(SUM(acked_at < ?), 0) FROM messages WHERE acked_at IS NOT NULL",
            (time.time() - 10,)).fetchone()
    assert stale == 0, (waiting, stale, _logs(data))


def _wait_for_alert(web: httpx.Client, proc: subprocess.Popen[str], data: Path) -> dict[str, Any]:
    """Window 2's unattended alert once its clip has arrived (the clip follows the start by post-roll)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, _logs(data)
        items = web.get("/api/v1/alerts", params={"limit": 50}).json()["items"]
        for item in items:
            if item["rule"] == "unattended_no_sign" and any(r["kind"] == "clip" for r in item["evidence"]):
                return dict(item)
        time.sleep(1)
    raise AssertionError("no alert with a clip within 300 s\n" + _logs(data))
