"""Topic scheme.

Every topic starts with ``cw/v1/{site}/{device}``: the device (one edge node, one MQTT identity) sits in
the path so that the broker's ACL can bind an identity to its own subtree. Per-window messages add
``{camera}/{window}``::

    cw/v1/{site}/{device}/status                    node online/offline (retained, Last Will)
    cw/v1/{site}/{device}/heartbeat                 health figures
    cw/v1/{site}/{device}/{camera}/health           camera health (retained)
    cw/v1/{site}/{device}/{camera}/{window}/event   event lifecycle (start/update/end)
    cw/v1/{site}/{device}/{camera}/{window}/state   presence / sign state (retained)
    cw/v1/{site}/{device}/cmd/model                 dashboard -> device: model rollout (retained)
    cw/v1/{site}/{device}/cmd/receipt               dashboard -> device: these messages are committed
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "cw/v1"
SEGMENT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_SEGMENT = re.compile(SEGMENT_PATTERN)


class TopicError(ValueError):
    """A topic that is not part of the contract."""


class TopicKind(StrEnum):
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    HEALTH = "health"
    EVENT = "event"
    STATE = "state"
    MODEL_CMD = "cmd/model"
    RECEIPT = "cmd/receipt"


DEVICE_KINDS = {TopicKind.STATUS, TopicKind.HEARTBEAT, TopicKind.MODEL_CMD, TopicKind.RECEIPT}
COMMAND_KINDS = {TopicKind.MODEL_CMD, TopicKind.RECEIPT}  # dashboard -> device


def check_segment(value: str, what: str) -> str:
    """Ids end up in topic paths and file names: keep them to a safe alphabet."""
    if not _SEGMENT.fullmatch(value):  # fullmatch: "$" alone would let a trailing newline through
        raise TopicError(f"{what} {value!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    if not value.strip("."):  # "." and ".." name directories, never a device, camera or file
        raise TopicError(f"{what} {value!r} must not consist of dots only")
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    kind: TopicKind
    site: str
    device: str
    camera: str | None = None
    window: str | None = None

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        check_segment(self.device, "device")
        needs_camera = self.kind in {TopicKind.HEALTH, TopicKind.EVENT, TopicKind.STATE}
        needs_window = self.kind in {TopicKind.EVENT, TopicKind.STATE}
        if needs_camera != (self.camera is not None) or needs_window != (self.window is not None):
            raise TopicError(f"{self.kind} topic needs camera={needs_camera} window={needs_window}")
        if self.camera is not None:
            check_segment(self.camera, "camera")
        if self.window is not None:
            check_segment(self.window, "window")

    def __str__(self) -> str:
        parts = [PREFIX, self.site, self.device]
        if self.camera is not None:
            parts.append(self.camera)
        if self.window is not None:
            parts.append(self.window)
        parts.append(self.kind.value)
        return "/".join(parts)

    @classmethod
    def parse(cls, topic: str) -> Topic:
        parts = topic.split("/")
        if len(parts) < 5 or "/".join(parts[:2]) != PREFIX:
            raise TopicError(f"not a CounterWatch v1 topic: {topic!r}")
        site, device, rest = parts[2], parts[3], parts[4:]
        if len(rest) == 2 and rest[0] == "cmd" and "/".join(rest) in COMMAND_KINDS:
            return cls(TopicKind("/".join(rest)), site, device)
        if len(rest) == 1 and rest[0] in (TopicKind.STATUS, TopicKind.HEARTBEAT):
            return cls(TopicKind(rest[0]), site, device)
        if len(rest) == 2 and rest[1] == TopicKind.HEALTH:
            return cls(TopicKind.HEALTH, site, device, camera=rest[0])
        if len(rest) == 3 and rest[2] in (TopicKind.EVENT, TopicKind.STATE):
            return cls(TopicKind(rest[2]), site, device, camera=rest[0], window=rest[1])
        raise TopicError(f"unknown topic layout: {topic!r}")


def device_subtree(site: str, device: str) -> str:
    """The subtree of one device's topics (its own publications and the commands for it)."""
    return f"{PREFIX}/{check_segment(site, 'site')}/{check_segment(device, 'device')}/#"


def device_publish_filters(site: str, device: str) -> list[str]:
    """What a device may publish (ACL): its status, heartbeat, health, state and event topics, and nothing
    under ``cmd/``: commands are the dashboard's alone. ``device`` may be ``+`` (a bridge for a site)."""
    check_segment(site, "site")
    if device != "+":
        check_segment(device, "device")
    base = f"{PREFIX}/{site}/{device}"
    return [f"{base}/{TopicKind.STATUS}", f"{base}/{TopicKind.HEARTBEAT}", f"{base}/+/{TopicKind.HEALTH}",
            f"{base}/+/+/{TopicKind.EVENT}", f"{base}/+/+/{TopicKind.STATE}"]


def model_command_topic(site: str, device: str) -> str:
    return str(Topic(TopicKind.MODEL_CMD, site, device))


def receipt_topic(site: str, device: str) -> str:
    return str(Topic(TopicKind.RECEIPT, site, device))


def command_filter(site: str = "+", device: str = "+") -> str:
    """Every dashboard -> device command topic (ACL and bridge patterns)."""
    return f"{PREFIX}/{site}/{device}/cmd/+"


ALL_TOPICS = f"{PREFIX}/#"
# The dashboard's ingest subscriptions: everything devices publish, nothing the dashboard itself sends.
INGEST_SUBSCRIPTIONS = [
    f"{PREFIX}/+/+/status",
    f"{PREFIX}/+/+/heartbeat",
    f"{PREFIX}/+/+/+/health",
    f"{PREFIX}/+/+/+/+/event",
    f"{PREFIX}/+/+/+/+/state",
]
