"""Delivery receipts: digests, grouping per device, and the contract of the receipt message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from broker.codec import Rejected, decode, encode
from broker.payloads import ReceiptMessage
from broker.receipts import MAX_DIGESTS, message_digest, receipts_for

EVENT_A = "cw/v1/hall1/edge-a/cam1/w01/event"
EVENT_B = "cw/v1/hall1/edge-b/cam1/w02/event"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_digest_names_exact_topic_and_bytes() -> None:
    digest = message_digest(EVENT_A, b"{}")
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert message_digest(EVENT_A, b"{}") == digest  # a re-send has the same name
    assert message_digest(EVENT_A, b"{} ") != digest
    assert message_digest(EVENT_B, b"{}") != digest
    # topic and payload are separated: moving bytes across the boundary changes the name
    assert message_digest("a/b", b"c") != message_digest("a/", b"bc")


def test_receipts_group_per_device_and_skip_what_no_outbox_sent() -> None:
    messages = [
        (EVENT_A, b"1"), (EVENT_B, b"2"), (EVENT_A, b"3"), (EVENT_A, b"1"),  # a redelivery: named once
        ("cw/v1/hall1/edge-a/heartbeat", b"hb"), ("cw/v1/hall1/edge-a/status", b"st"),  # not from the outbox
        ("cw/v1/hall1/edge-a/cam1/health", b"h"), ("cw/v1/hall1/edge-a/cam1/w01/state", b"s"),
        ("not/a/cw/topic", b"x"), ("cw/v1/hall1/edge-a/cam1/w01/../event", b"y"),  # dead-lettered, no device
    ]
    out = {topic: decode(topic, payload)[1] for topic, payload in receipts_for(messages, T0)}
    assert set(out) == {"cw/v1/hall1/edge-a/cmd/receipt", "cw/v1/hall1/edge-b/cmd/receipt"}
    a = out["cw/v1/hall1/edge-a/cmd/receipt"]
    assert isinstance(a, ReceiptMessage) and (a.site, a.device, a.at) == ("hall1", "edge-a", T0)
    assert a.digests == [message_digest(EVENT_A, b"1"), message_digest(EVENT_A, b"3"),
                         message_digest("cw/v1/hall1/edge-a/cam1/health", b"h"),
                         message_digest("cw/v1/hall1/edge-a/cam1/w01/state", b"s")]
    b = out["cw/v1/hall1/edge-b/cmd/receipt"]
    assert isinstance(b, ReceiptMessage) and b.digests == [message_digest(EVENT_B, b"2")]


def test_a_large_batch_is_split_into_receipts_of_bounded_size() -> None:
    messages = [(EVENT_A, str(i).encode()) for i in range(2 * MAX_DIGESTS + 5)]
    receipts = [decode(t, p)[1] for t, p in receipts_for(messages, T0)]
    sizes = [len(r.digests) for r in receipts if isinstance(r, ReceiptMessage)]
    assert sizes == [MAX_DIGESTS, MAX_DIGESTS, 5]
    assert all(len(p) < 64 * 1024 for _, p in receipts_for(messages, T0))  # under the codec's payload limit


@pytest.mark.parametrize(("change", "code"), [
    ({"digests": []}, "invalid_payload"),
    ({"digests": ["XYZ"]}, "invalid_payload"),
    ({"digests": ["0" * 17]}, "invalid_payload"),
    ({"device": "edge-b"}, "identity_mismatch"),
    ({"extra": 1}, "invalid_payload"),
])
def test_bad_receipts_are_rejected(change: dict[str, object], code: str) -> None:
    good = json.loads(encode(ReceiptMessage(site="hall1", device="edge-a", digests=["0" * 16], at=T0)))
    with pytest.raises(Rejected) as err:
        decode("cw/v1/hall1/edge-a/cmd/receipt", json.dumps({**good, **change}).encode())
    assert err.value.code == code

