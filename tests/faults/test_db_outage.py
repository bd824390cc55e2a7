"""The dashboard's database unavailable for a minute (issue 8) while events keep arriving. Real outboxes and
publishers -> real Mosquitto -> the real ingest process -> a PostgreSQL cluster of the test's own (initdb
on a free port), which the test crashes (``pg_ctl stop -m immediate``) mid-burst and starts again.

Nothing is lost or stored twice: the ingest acknowledges nothing while it cannot commit, so the broker keeps
queueing, and a commit whose answer the crash swallowed is harmlessly redone. The health figures say what
happened: the ingest's running totals count the outage (``db_outages``, ``db_commit_failures``,
``db_outage_ms``) and the admin API shows them; the edge never noticed (its outbox stayed near empty).

CW_FAULT_DB_OUTAGE_SECONDS shortens the outage for development runs (default 60)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from dashboard.db.scratch import scratch_database
from rigs.soak import event_rows
from tests.support.faults import fault_rig
from tests.support.postgres import PgCluster, postgres_bindir

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

OUTAGE_S = float(os.environ.get("CW_FAULT_DB_OUTAGE_SECONDS", "60"))
RATE = 20.0  # rule outputs per second over all cameras


def _api_counters(rig_db: object, db_url: str, tmp_path: Path) -> dict[str, int]:
    """The same figures as an operator reads them: ``GET /api/v1/ingest/counters``."""
    from dashboard.app import create_app
    from dashboard.enums import Role
    from dashboard.settings import DashboardSettings
    from tests.dashboard.helpers import ApiUsers

    settings = DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="test-secret-" + "x" * 32, admin_password="admin-password-1",
        run_migrations=False,
    )
    app = create_app(settings, db=rig_db)  # type: ignore[arg-type]
    with ApiUsers(app).client(Role.ADMIN) as client:
        resp = client.get("/api/v1/ingest/counters")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.mark.timeout(int(OUTAGE_S) + 300)
def test_database_down_for_a_minute_loses_nothing_and_reports_it(tmp_path: Path) -> None:
    if postgres_bindir() is None:
        pytest.fail("PostgreSQL's initdb is not installed: ./cw setup installs it")
    # Outside pytest's tmp_path: its parents are private to root, and PostgreSQL runs as ``postgres``.
    pg_dir = Path(tempfile.mkdtemp(prefix="cw-pg-outage-"))
    cluster = PgCluster(pg_dir).init().start()
    try:
        with scratch_database(cluster.dsn, "cw_outage") as db_url, \
                fault_rig(tmp_path, db_url, devices=2, cameras=2, prefix="dbout") as rig:
            rig.emit(3, RATE)
            rows_before = event_rows(rig.db)
            cluster.stop("immediate")  # a crash: no checkpoint, open connections simply die
            down_at = time.monotonic()
            peak_edge_depth = peak_awaiting = 0

            def watch() -> None:
                nonlocal peak_edge_depth, peak_awaiting
                peak_edge_depth = max(peak_edge_depth, rig.unsent())
                peak_awaiting = max(peak_awaiting, rig.depth())

            emitted_while_down = rig.emit(OUTAGE_S, RATE, on_tick=watch)
            cluster.start()
            down_s = time.monotonic() - down_at
            rig.emit(3, RATE)
            result = rig.drain(timeout=240)
            counters = result["ingest_counters"]
            api = _api_counters(rig.db, db_url, tmp_path)
            log = (tmp_path / "ingest" / "ingest.log").read_text()
            figures = {
                "outage_s": round(down_s, 1), "event_rows_before": rows_before,
                "outputs_emitted_while_down": emitted_while_down, "peak_edge_outbox_unsent": peak_edge_depth,
                "peak_edge_outbox_awaiting_receipt": peak_awaiting,
                "db_outages": counters.get("db_outages"), "db_commit_failures": counters.get("db_commit_failures"),
                "db_outage_ms": counters.get("db_outage_ms"), "redeliveries_absorbed": counters.get("duplicate", 0),
                "ingest_running": rig.ingest.running, "dead_letters": rig.dead_letters(),
                "receipt_resends": sum(d.publisher.resent for d in rig.devices),
            }
            print(f"\ndatabase outage: {result}\n{figures}")
    finally:
        cluster.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)

    assert rows_before > 0, "nothing flowed before the outage; the test proves nothing"
    assert emitted_while_down > 0.9 * OUTAGE_S * RATE, figures
    assert result["missing"] == 0 and result["incomplete"] == 0, (result, figures)
    assert result["unexpected"] == 0 and result["duplicate_rows"] == 0, result
    assert result["outbox_depth"] == 0, result
    assert figures["dead_letters"] == 0 and counters.get("rejected", 0) == 0, (counters, figures)
    assert figures["ingest_running"], "the ingest must ride out the outage, not die"
    # The outage is on record, as long as it was (from the first failed commit to the first good one;
    # the retry backs off to 10 s).
    assert counters.get("db_outages", 0) >= 1 and counters.get("db_commit_failures", 0) >= 2, figures
    assert (down_s - 2) * 1000 <= counters["db_outage_ms"] <= (down_s + 15) * 1000, figures
    assert {k: api.get(k) for k in ("db_outages", "db_commit_failures", "db_outage_ms")} == {
        k: counters[k] for k in ("db_outages", "db_commit_failures", "db_outage_ms")}, api
    assert "database back after" in log
    # The broker took every message meanwhile (the edge's unsent backlog stayed near empty); the edge kept
    # them all until the receipts came after the outage, and sent none again (nothing was lost).
    assert peak_edge_depth < 0.2 * emitted_while_down, figures
    assert peak_awaiting >= 0.9 * emitted_while_down, figures
    assert figures["receipt_resends"] == 0, figures
