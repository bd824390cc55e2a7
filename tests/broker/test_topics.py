from __future__ import annotations

import pytest

from broker.embedded import topic_matches
from broker.topics import (
    COMMAND_KINDS,
    INGEST_SUBSCRIPTIONS,
    Topic,
    TopicError,
    TopicKind,
    check_segment,
    command_filter,
    device_subtree,
    model_command_topic,
)

EXAMPLES = [
    (Topic(TopicKind.STATUS, "hall1", "edge-a"), "cw/v1/hall1/edge-a/status"),
    (Topic(TopicKind.HEARTBEAT, "hall1", "edge-a"), "cw/v1/hall1/edge-a/heartbeat"),
    (Topic(TopicKind.HEALTH, "hall1", "edge-a", camera="cam1"), "cw/v1/hall1/edge-a/cam1/health"),
    (Topic(TopicKind.EVENT, "hall1", "edge-a", "cam1", "w01"), "cw/v1/hall1/edge-a/cam1/w01/event"),
    (Topic(TopicKind.STATE, "hall1", "edge-a", "cam1", "w.2_b"), "cw/v1/hall1/edge-a/cam1/w.2_b/state"),
    (Topic(TopicKind.MODEL_CMD, "hall1", "edge-a"), "cw/v1/hall1/edge-a/cmd/model"),
    (Topic(TopicKind.RECEIPT, "hall1", "edge-a"), "cw/v1/hall1/edge-a/cmd/receipt"),
]


@pytest.mark.parametrize(("topic", "text"), EXAMPLES, ids=[t.kind.value for t, _ in EXAMPLES])
def test_build_parse_round_trip(topic: Topic, text: str) -> None:
    assert str(topic) == text
    assert Topic.parse(text) == topic


@pytest.mark.parametrize("text", [
    "cw/v2/hall1/edge-a/status",  # another contract version
    "cw/v1/hall1/edge-a",  # too short
    "cw/v1/hall1/edge-a/unknown",
    "cw/v1/hall1/edge-a/cam1/event",  # event without window
    "cw/v1/hall1/edge-a/cam1/w01/health",  # health with a window
    "cw/v1/hall1/edge-a/cam1/w01/event/extra",
    "cw/v1/hall 1/edge-a/status",  # space
    "cw/v1//edge-a/status",  # empty segment
    "cw/v1/hall1/+/status",  # wildcard is not an id
    "cw/v1/hall1/#/status",
    "cw/v1/hall1/厅/status",  # outside the safe alphabet
    "cw/v1/" + "x" * 65 + "/edge-a/status",  # segment too long
    "cw/v1/hall1/edge-a/cmd/other",
])
def test_off_contract_topics_are_rejected(text: str) -> None:
    with pytest.raises(TopicError):
        Topic.parse(text)


@pytest.mark.parametrize("kwargs", [
    {"kind": TopicKind.EVENT, "camera": "cam1"},  # window missing
    {"kind": TopicKind.STATUS, "camera": "cam1"},  # camera not allowed
    {"kind": TopicKind.HEALTH},  # camera missing
    {"kind": TopicKind.EVENT, "camera": "cam/1", "window": "w01"},  # a slash would shift the levels
])
def test_topic_construction_checks_shape(kwargs: dict[str, object]) -> None:
    with pytest.raises(TopicError):
        Topic(site="hall1", device="edge-a", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "+", "#", "x" * 65, "ü"])
def test_check_segment_refuses(bad: str) -> None:
    with pytest.raises(TopicError):
        check_segment(bad, "id")


def test_acl_helpers_and_ingest_filters_cover_exactly_device_topics() -> None:
    assert device_subtree("hall1", "edge-a") == "cw/v1/hall1/edge-a/#"
    assert model_command_topic("hall1", "edge-a") == "cw/v1/hall1/edge-a/cmd/model"
    with pytest.raises(TopicError):
        device_subtree("hall1", "edge/a")
    for topic, text in EXAMPLES:
        matched = [f for f in INGEST_SUBSCRIPTIONS if topic_matches(f, text)]
        # The dashboard ingests every device message once and never its own commands (rollouts, receipts).
        assert len(matched) == (0 if topic.kind in COMMAND_KINDS else 1), text
        assert topic_matches(command_filter("hall1", "edge-a"), text) == (topic.kind in COMMAND_KINDS), text
        assert topic_matches(device_subtree("hall1", "edge-a"), text)
