"""End-to-end delivery receipts: the dashboard tells each device which of its messages are committed.

A PUBACK only says the broker has the message. Mosquitto keeps its queues in memory and writes them to disk
every ``autosave_interval``; killed in between, it loses what it acknowledged but had not yet delivered to
a lagging ingest. So the edge keeps each outbox row until the dashboard's receipt and sends it again when
none comes (the ingest is idempotent). A message is named by a digest of its exact topic and bytes, which
the outbox stores with the row: no payload field is needed, and a re-send has the same digest.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from broker.codec import encode
from broker.payloads import ReceiptMessage
from broker.topics import Topic, TopicError, TopicKind, receipt_topic

DIGEST_HEX = 16  # 64 bits: collisions within one device's outstanding rows are not a concern
MAX_DIGESTS = 1000  # per receipt message (ReceiptMessage.digests max_length)
# What the edge's outbox carries: only these get receipts (status and heartbeats are fire-and-forget).
RECEIPTED_KINDS = frozenset({TopicKind.EVENT, TopicKind.STATE, TopicKind.HEALTH})


def message_digest(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:DIGEST_HEX]


def receipts_for(messages: Iterable[tuple[str, bytes]], at: datetime | None = None) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) receipts for committed (topic, payload) messages, grouped per device. Messages on
    topics outside the contract (dead-lettered as ``bad_topic``) have no device to answer and are skipped."""
    by_device: dict[tuple[str, str], list[str]] = defaultdict(list)
    for topic, payload in messages:
        try:
            parsed = Topic.parse(topic)
        except TopicError:
            continue
        if parsed.kind in RECEIPTED_KINDS:
            by_device[(parsed.site, parsed.device)].append(message_digest(topic, payload))
    stamp = at or datetime.now(UTC)
    for (site, device), digests in by_device.items():
        unique = list(dict.fromkeys(digests))
        for i in range(0, len(unique), MAX_DIGESTS):
            message = ReceiptMessage(site=site, device=device, digests=unique[i:i + MAX_DIGESTS], at=stamp)
            yield receipt_topic(site, device), encode(message)
