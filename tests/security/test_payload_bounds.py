"""Red-team finding 4: no bound on device timestamps or string lengths. One status dated
9999-12-31T23:59:59Z made /admin/devices answer 500 for every admin, for good (no later status could
replace it), and a 60,000-character software_version was stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from broker.codec import encode
from broker.payloads import NodeStatus, StatusMessage
from dashboard.db.engine import Database
from dashboard.db.models import DeadLetter, Device
from dashboard.enums import Role
from dashboard.ingest.consumer import IngestConsumer
from tests.dashboard.helpers import ApiUsers
from tests.security.conftest import Rig, count, wait_until

pytestmark = [pytest.mark.db, pytest.mark.integration]
END_OF_TIME = "9999-12-31T23:59:59Z"


def status_payload(rig: Rig, **fields: object) -> bytes:
    body: dict[str, object] = {"v": 1, "site": rig.victim.site, "device": rig.victim.device, "status": "online",
                               "at": datetime.now(UTC).isoformat()}
    body.update(fields)
    return json.dumps(body).encode()


def device_row(db: Database, device: str) -> Device:
    with db.session() as s:
        row = s.get(Device, device)
        assert row is not None
        s.expunge(row)
        return row


def test_far_future_and_oversized_statuses_are_dead_lettered(rig: Rig, ingest: IngestConsumer, db: Database,
                                                             app: FastAPI) -> None:
    topic = rig.victim.topic("status")
    rig.publish(rig.victim.device, [
        (topic, status_payload(rig, at=END_OF_TIME)),
        (topic, status_payload(rig, software_version="x" * 60_000)),
        (topic, status_payload(rig, at="0001-01-01T00:00:00Z")),
    ])
    assert wait_until(lambda: count(db, DeadLetter) == 3)
    with db.session() as s:
        codes = sorted(d.code for d in s.scalars(select(DeadLetter)))
    assert codes == ["clock_skew", "clock_skew", "invalid_payload"]
    row = device_row(db, rig.victim.device)
    assert row.status_at is None and row.software_version is None  # nothing of them was stored

    real = StatusMessage(site=rig.victim.site, device=rig.victim.device, status=NodeStatus.ONLINE,
                         at=datetime.now(UTC), software_version="1.4.2")
    rig.publish(rig.victim.device, [(topic, encode(real))])
    assert wait_until(lambda: device_row(db, rig.victim.device).software_version == "1.4.2")
    page = ApiUsers(app).browser(Role.ADMIN).get("/admin/devices")
    assert page.status_code == 200 and "1.4.2" in page.text


def test_devices_page_survives_a_value_stored_before_the_bounds_and_a_real_status_replaces_it(
    rig: Rig, ingest: IngestConsumer, db: Database, app: FastAPI
) -> None:
    end_of_time = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    with db.session() as s:  # what the attack left in a database from before the fix
        row = s.get(Device, rig.victim.device)
        assert row is not None
        row.status, row.status_at, row.last_seen_at = NodeStatus.ONLINE.value, end_of_time, end_of_time  # type: ignore[assignment]
        # SQLite stores what it is given; PostgreSQL's VARCHAR(64) would have refused the long one.
        row.software_version = "y" * (64 if s.get_bind().dialect.name == "postgresql" else 60_000)
    admin = ApiUsers(app).browser(Role.ADMIN)
    page = admin.get("/admin/devices")
    assert page.status_code == 200
    assert "y" * 100 not in page.text  # a bounded line, not 60,000 characters

    at = datetime.now(UTC) - timedelta(seconds=1)
    real = StatusMessage(site=rig.victim.site, device=rig.victim.device, status=NodeStatus.OFFLINE, at=at,
                         software_version="1.4.3")
    rig.publish(rig.victim.device, [(rig.victim.topic("status"), encode(real))])
    assert wait_until(lambda: device_row(db, rig.victim.device).status_at == at)
    row = device_row(db, rig.victim.device)
    assert row.last_seen_at == at and row.software_version == "1.4.3"
    assert admin.get("/admin/devices").status_code == 200
