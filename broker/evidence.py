"""The HTTP half of the contract: how a device uploads evidence (snapshots, clips) to the dashboard.

    PUT {dashboard}/api/v1/evidence/{evidence_id}
    Authorization: Bearer {device upload token}
    Content-Type: image/jpeg | video/mp4
    X-Content-SHA256: {hex sha256 of the body}
    X-Device: {device id}

Idempotent: the same id with the same hash answers 200 (already stored) or 201 (stored now); the same id
with a different hash answers 409 and keeps the first (ids are per device: another device's upload of
the same id is its own). Size over the limit: 413; wrong type, or a body whose first bytes are not that
type's (JPEG FF D8 FF, an MP4 ftyp box): 415;
hash mismatch: 422. A device retries until it gets 200/201 (or a final 4xx, which it logs and drops).
"""

from __future__ import annotations

from typing import Final

EVIDENCE_PATH: Final = "/api/v1/evidence/{evidence_id}"
SHA256_HEADER: Final = "X-Content-SHA256"
DEVICE_HEADER: Final = "X-Device"

CONTENT_TYPES: Final = {"snapshot": "image/jpeg", "clip": "video/mp4"}
MAX_BYTES: Final = {"image/jpeg": 8 * 1024 * 1024, "video/mp4": 64 * 1024 * 1024}

# Answers after which the device must not retry the same upload.
FINAL_STATUSES: Final = frozenset({200, 201, 409, 413, 415, 422})


def evidence_path(evidence_id: str) -> str:
    from broker.topics import check_segment

    return EVIDENCE_PATH.format(evidence_id=check_segment(evidence_id, "evidence id"))
