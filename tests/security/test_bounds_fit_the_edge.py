"""The payload bounds refuse what no real edge sends, and nothing a real edge sends."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.boxes import DETAILS_KEY, MAX_BOXES, LabelledBox, encode_boxes
from broker.codec import MAX_PAYLOAD_BYTES, decode, encode
from broker.payloads import EventMessage, EventPhase, Rule, Severity


def test_an_event_with_the_most_boxes_in_the_largest_frames_is_accepted() -> None:
    boxes = [LabelledBox("customer_waiting_xxxxxxxxxxxxxxx"[:32], 7679.5, 4319.5, 7680.5 + i, 4320.5)
             for i in range(MAX_BOXES)]
    now = datetime.now(UTC)
    message = EventMessage(site="hall1", device="edge-a", camera="cam1", window="w01", event_id="evt-00000001",
                           seq=0, phase=EventPhase.START, rule=Rule.PHONE_USE, severity=Severity.LOW,
                           started_at=now, sent_at=now, confidence=0.5,
                           details={DETAILS_KEY: encode_boxes(boxes), "hold_s": 30, "camera_status": "ok"})
    payload = encode(message)
    assert len(payload) < MAX_PAYLOAD_BYTES
    assert decode("cw/v1/hall1/edge-a/cam1/w01/event", payload)[1] == message
