"""Red-team finding 5: oversized payloads were kept whole in dead letters and Mosquitto had no
message_size_limit: four 5 MiB messages grew the database from 0.27 MB to 21 MB and the dead-letters API
answered with a 21 MB body."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from broker.codec import MAX_PAYLOAD_BYTES, encode
from broker.payloads import NodeStatus, StatusMessage
from dashboard.db.engine import Database
from dashboard.db.models import DeadLetter, Device
from dashboard.enums import Role
from dashboard.ingest.apply import IngestLimits, Ingestor, RawMessage
from dashboard.ingest.consumer import IngestConsumer
from dashboard.registry import register_device
from tests.dashboard.helpers import ApiUsers
from tests.security.conftest import Device as RigDevice
from tests.security.conftest import Rig, count, wait_until
from tests.support.mqtt import Collector

pytestmark = [pytest.mark.db, pytest.mark.integration]
MIB = 1024 * 1024


def _status(dev: RigDevice, version: str) -> bytes:
    return encode(StatusMessage(site=dev.site, device=dev.device, status=NodeStatus.ONLINE, at=datetime.now(UTC),
                                software_version=version))


def test_broker_drops_oversized_publishes_before_they_reach_anyone(rig: Rig, ingest: IngestConsumer,
                                                                   db: Database) -> None:
    dev = rig.hostile
    big = b'{"v": 1, "pad": "' + b"A" * (5 * MIB) + b'"}'
    items = [(dev.topic("event"), big) for _ in range(4)] + [(dev.topic("status"), _status(dev, "control-1"))]
    rig.publish(dev.device, items)
    rig.publish(dev.device, [(dev.topic("health"), big)], retain=True)
    rig.publish(dev.device, [(dev.topic("status"), _status(dev, "control-2"))])

    def version() -> str | None:
        with db.session() as s:
            row = s.get(Device, dev.device)
            return row.software_version if row else None

    assert wait_until(lambda: version() == "control-2")  # what came after the big ones did arrive
    assert count(db, DeadLetter) == 0  # the broker never passed the 5 MiB messages on
    assert ingest.stats.received == 2
    late = rig.client("ops")  # nothing retained either
    inbox = Collector(late, [dev.topic("health")])
    assert inbox.wait_for(1, 1.0) == []
    late.disconnect()
    late.loop_stop()


def test_dead_letters_keep_a_bounded_prefix_with_size_and_hash(db: Database) -> None:
    with db.session() as s:
        register_device(s, "hall2", "edge-b")
    payload = b"{" + b"x" * (MAX_PAYLOAD_BYTES - 10)  # under every size limit, not JSON
    now = datetime.now(UTC)
    Ingestor(db).apply([RawMessage("cw/v1/hall2/edge-b/status", payload, now)])
    with db.session() as s:
        letter = s.scalars(select(DeadLetter)).one()
        assert letter.code == "malformed_json"
        assert len(letter.payload) == IngestLimits().dead_letter_payload_bytes and payload.startswith(letter.payload)
        assert letter.payload_size == len(payload)
        assert letter.payload_sha256 == hashlib.sha256(payload).hexdigest()


def test_dead_letter_table_keeps_only_the_newest_rows(db: Database) -> None:
    limits = IngestLimits(dead_letter_max_rows=100)
    ingest = Ingestor(db, limits=limits)
    now = datetime.now(UTC)
    for batch in range(3):
        ingest.apply([RawMessage(f"bad/{batch}/{i}", b"x", now + timedelta(seconds=i)) for i in range(60)])
    with db.session() as s:
        topics = list(s.scalars(select(DeadLetter.topic).order_by(DeadLetter.id)))
        total = s.scalar(select(func.count()).select_from(DeadLetter))
    assert total == 100
    assert topics[-1] == "bad/2/59" and topics[0] == "bad/1/20"  # the oldest went first
    assert ingest.totals["rejected"] == 180  # the counters still count every one


def test_dead_letters_api_is_paginated_and_bounded(db: Database, app: FastAPI) -> None:
    now = datetime.now(UTC)
    with db.session() as s:  # rows stored before the cap, whole
        for i in range(3):
            s.add(DeadLetter(received_at=now, topic=f"cw/v1/hall1/edge-a/x{i}", code="too_large",
                             reason="payload is too large", payload=b"B" * (5 * MIB)))
    sup = ApiUsers(app).client(Role.SUPERVISOR)
    r = sup.get("/api/v1/dead-letters", params={"limit": 500})
    assert r.status_code == 200 and len(r.content) < 64 * 1024, len(r.content)
    body = r.json()
    assert body["total"] == 3 and all(i["payload_truncated"] and i["payload_size"] == 5 * MIB for i in body["items"])
    assert sup.get("/api/v1/dead-letters", params={"limit": 501}).status_code == 422
    assert json.loads(sup.get("/api/v1/dead-letters", params={"limit": 1, "offset": 2}).content)["items"][0]["id"]
