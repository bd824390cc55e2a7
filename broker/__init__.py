"""The MQTT contract shared by edge and dashboard: topics, versioned payloads, broker configuration.

This package is the *only* contract edge/ and dashboard/ share (both also stand on the common/ floor).
"""

from broker.payloads import (
    SCHEMA_VERSION,
    CameraHealth,
    EventMessage,
    EventPhase,
    EvidenceRef,
    HeartbeatMessage,
    ModelRollout,
    NodeStatus,
    Rule,
    Severity,
    StateMessage,
    StatusMessage,
)
from broker.topics import Topic, TopicKind

__all__ = [
    "SCHEMA_VERSION",
    "CameraHealth",
    "EventMessage",
    "EventPhase",
    "EvidenceRef",
    "HeartbeatMessage",
    "ModelRollout",
    "NodeStatus",
    "Rule",
    "Severity",
    "StateMessage",
    "StatusMessage",
    "Topic",
    "TopicKind",
]
