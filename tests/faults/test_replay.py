"""Duplicate and reordered deliveries: a message sequence replayed shuffled and duplicated straight into the
real ingest leaves exactly the rows that in-order single delivery leaves. And an edge clock 5 minutes off."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.payloads import EventPhase
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.db.models import Device, Event
from dashboard.ingest.apply import Ingestor, RawMessage
from tests.dashboard import factories as f
from tests.dashboard.helpers import register, snapshot

pytestmark = pytest.mark.db

# Columns that record *when the dashboard* saw a message or registered the device: they differ between two
# runs by design.
SURROGATE_COLUMNS = {"id", "event_pk", "interval_id"}
RECEIPT_COLUMNS = {"received_at", "updated_at", "created_at", "token_issued_at", "upload_token_hash"}


def _sequence() -> list[object]:
    messages: list[object] = []
    for i in range(30):
        start = f.T0 + timedelta(minutes=3 * i)
        messages += f.lifecycle(f"evt-{i:08d}", started_at=start, minutes=2)
        messages.append(f.state(start, present=i % 2 == 0))
    messages += [f.status(f.T0 + timedelta(minutes=m)) for m in range(0, 90, 10)]
    messages += [f.health(f.T0 + timedelta(minutes=m), "ok" if m % 20 else "dark") for m in range(0, 90, 10)]
    return messages


def _comparable(db: Database) -> dict[str, list[tuple[object, ...]]]:
    from dashboard.db.models import Base

    out = snapshot(db)
    for table in Base.metadata.sorted_tables:
        if table.name in out:
            # Surrogate ids follow arrival order; compare content, as a sorted multiset.
            keep = [i for i, c in enumerate(table.columns)
                    if c.name not in RECEIPT_COLUMNS and c.name not in SURROGATE_COLUMNS]
            out[table.name] = sorted((tuple(row[i] for i in keep) for row in out[table.name]), key=repr)
    return out


def _fresh(url: str) -> Database:
    upgrade(url)
    db = Database(url)
    register(db)
    return db


def test_shuffled_duplicated_replay_equals_in_order_delivery(db: Database, db_url: str, tmp_path: Path) -> None:
    messages = _sequence()
    received = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    register(db)
    # In order, once each, one message per batch (as a slow trickle would arrive).
    in_order = Ingestor(db)
    for m in messages:
        in_order.apply([f.raw(m, received)])
    expected = _comparable(db)
    assert len(expected["event"]) == 30 and all(row for row in expected["event"])

    # The same stream duplicated 3x, shuffled, in random batch sizes, into an empty database.
    # The second database is a SQLite file on both runs: the comparison is of what the ingest wrote.
    other_url = f"sqlite:///{tmp_path}/replay.db"
    replay_db = _fresh(other_url)
    try:
        rng = random.Random(20261123)
        stream: list[RawMessage] = [f.raw(m, received) for m in messages * 3]
        rng.shuffle(stream)
        ingest = Ingestor(replay_db)
        i = 0
        while i < len(stream):
            size = rng.randint(1, 40)
            ingest.apply(stream[i:i + size])
            i += size
        got = _comparable(replay_db)
        differing = {t: ([r for r in got[t] if r not in expected[t]][:2],
                         [r for r in expected[t] if r not in got[t]][:2])
                     for t in expected if got.get(t) != expected[t]}
        assert not differing, differing
        assert ingest.totals["accepted"] + ingest.totals["duplicate"] == len(stream)
        assert ingest.totals["duplicate"] >= 2 * len(messages), ingest.totals
        assert ingest.totals["rejected"] == 0
        with replay_db.session() as s:
            for row in s.scalars(select(Event)):
                assert (row.phase, row.seq) == (EventPhase.END.value, 2), row.event_id
    finally:
        replay_db.dispose()


def test_edge_clock_five_minutes_fast_keeps_event_times_and_shows_the_skew(db: Database) -> None:
    """The dashboard stores the edge's own times (started_at/sent_at) untouched and its own receipt time
    beside them: received_at - sent_at shows the skew (here -300 s: the edge is 5 minutes fast)."""
    register(db)
    skew = timedelta(minutes=5)
    dashboard_now = datetime.now(UTC).replace(microsecond=0)
    started = dashboard_now + skew  # the edge's clock reads 5 minutes ahead
    events = f.lifecycle("evt-skewed01", started_at=started, minutes=1)
    Ingestor(db).apply([f.raw(m, dashboard_now) for m in events])
    with db.session() as s:
        row = s.scalars(select(Event)).one()
        assert row.started_at == started and row.ended_at == started + timedelta(minutes=1)
        lag = (row.received_at - row.sent_at).total_seconds()
        device = s.get(Device, "edge-a")
        assert device is not None
    assert lag == pytest.approx(-skew.total_seconds() + 0, abs=5), lag
