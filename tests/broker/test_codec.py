from __future__ import annotations

import json

import pytest

from broker.codec import MAX_PAYLOAD_BYTES, Rejected, decode, encode
from broker.payloads import EventMessage, ModelRollout, StatusMessage
from tests.broker.samples import event, rollout, status

EVENT_TOPIC = "cw/v1/hall1/edge-a/cam1/w01/event"


def test_decode_valid_messages() -> None:
    topic, message = decode(EVENT_TOPIC, encode(event()))
    assert isinstance(message, EventMessage) and topic.camera == "cam1"
    assert isinstance(decode("cw/v1/hall1/edge-a/status", encode(status()))[1], StatusMessage)
    assert isinstance(decode("cw/v1/hall1/edge-a/cmd/model", encode(rollout()))[1], ModelRollout)


def _raw(**changes: object) -> bytes:
    data = json.loads(encode(event()))
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(("topic", "payload", "code"), [
    ("cw/v1/hall1/edge-a/cam1/event", encode(event()), "bad_topic"),
    ("other/topic", b"{}", "bad_topic"),
    (EVENT_TOPIC, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "too_large"),
    (EVENT_TOPIC, b"{not json", "malformed_json"),
    (EVENT_TOPIC, b"\xff\xfe", "malformed_json"),
    (EVENT_TOPIC, b"[1, 2]", "malformed_json"),
    (EVENT_TOPIC, _raw(v=2), "unsupported_version"),
    (EVENT_TOPIC, _raw(v=None), "unsupported_version"),
    (EVENT_TOPIC, _raw(confidence=7), "invalid_payload"),
    (EVENT_TOPIC, _raw(started_at="2026-03-02T09:00:00"), "invalid_payload"),  # naive
    ("cw/v1/hall1/edge-a/status", encode(event()), "invalid_payload"),  # an event on a status topic
    ("cw/v1/hall1/edge-b/cam1/w01/event", encode(event()), "identity_mismatch"),
    ("cw/v1/hall2/edge-a/cam1/w01/event", encode(event()), "identity_mismatch"),
    ("cw/v1/hall1/edge-a/cam2/w01/event", encode(event()), "identity_mismatch"),
    ("cw/v1/hall1/edge-a/cam1/w02/event", encode(event()), "identity_mismatch"),
])
def test_rejections_carry_a_stable_code(topic: str, payload: bytes, code: str) -> None:
    with pytest.raises(Rejected) as info:
        decode(topic, payload)
    assert info.value.code == code
    assert info.value.reason and str(info.value).startswith(code)


def test_invalid_payload_reason_names_the_field() -> None:
    with pytest.raises(Rejected, match="confidence"):
        decode(EVENT_TOPIC, _raw(confidence=7))
