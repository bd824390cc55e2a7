"""Decode a (topic, payload) pair into a typed message, with a reason when it cannot be read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from broker.payloads import (
    SCHEMA_VERSION,
    CameraHealth,
    EventMessage,
    HeartbeatMessage,
    ModelRollout,
    ReceiptMessage,
    StateMessage,
    StatusMessage,
)
from broker.topics import Topic, TopicError, TopicKind

MAX_PAYLOAD_BYTES = 64 * 1024

PAYLOAD_TYPES: dict[TopicKind, type[BaseModel]] = {
    TopicKind.STATUS: StatusMessage,
    TopicKind.HEARTBEAT: HeartbeatMessage,
    TopicKind.HEALTH: CameraHealth,
    TopicKind.EVENT: EventMessage,
    TopicKind.STATE: StateMessage,
    TopicKind.MODEL_CMD: ModelRollout,
    TopicKind.RECEIPT: ReceiptMessage,
}

Message = (StatusMessage | HeartbeatMessage | CameraHealth | EventMessage | StateMessage | ModelRollout
           | ReceiptMessage)


@dataclass(frozen=True)
class Rejected(Exception):
    """A message that does not satisfy the contract. ``code`` is stable and short, for counting."""

    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=False).encode()


def decode(topic: str, payload: bytes) -> tuple[Topic, Message]:
    """Parse and validate; raise :class:`Rejected` with a reason on anything off-contract.

    Beyond schema validation, the identity in the payload must match the topic path, so a device cannot
    speak for another device by writing its name into the JSON."""
    try:
        parsed_topic = Topic.parse(topic)
    except TopicError as exc:
        raise Rejected("bad_topic", str(exc)) from exc
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("too_large", f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        raw: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected("malformed_json", str(exc)) from exc
    if not isinstance(raw, dict):
        raise Rejected("malformed_json", "payload must be a JSON object")
    version = raw.get("v")
    if version != SCHEMA_VERSION:
        raise Rejected("unsupported_version", f"schema version {version!r}, this reader knows {SCHEMA_VERSION}")
    model = PAYLOAD_TYPES[parsed_topic.kind]
    try:
        message = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise Rejected("invalid_payload", f"{where}: {first['msg']} ({exc.error_count()} error(s))") from exc
    _check_identity(parsed_topic, message)
    return parsed_topic, message  # type: ignore[return-value]


def _check_identity(topic: Topic, message: BaseModel) -> None:
    for field in ("site", "device", "camera", "window"):
        expected = getattr(topic, field)
        actual = getattr(message, field, None)
        if expected is not None and actual is not None and actual != expected:
            raise Rejected("identity_mismatch", f"{field} {actual!r} in payload, {expected!r} in topic")
