"""Hostile device payloads for the fuzz suite: every MQTT payload schema a device publishes, started from a
valid message and then mutated (fields replaced by wrong types, extreme numbers, huge strings, impossible
timestamps, other devices' ids), or replaced by garbage bytes.

Plain functions of a :class:`random.Random`, so that hypothesis (drawing the seed) and a seeded end-to-end run
through a real broker draw from the same generator."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

HOSTILE_SITE, HOSTILE = "hall2", "edge-b"
VICTIM_SITE, VICTIM = "hall1", "edge-a"
CAMERA, WINDOW = "cam1", "w01"
# Ids the victim uses (seeded into the database): the attacker's favourite targets.
VICTIM_EVENT_IDS = [f"victim-event-{i:04d}" for i in range(4)]
VICTIM_STATE_IDS = [f"victim-state-{i:04d}" for i in range(4)]
VICTIM_EVIDENCE_IDS = [f"{e}-snap" for e in VICTIM_EVENT_IDS]
KINDS = ["event", "state", "status", "heartbeat", "health"]


def topic_for(kind: str, camera: str = CAMERA, window: str = WINDOW) -> str:
    base = f"cw/v1/{HOSTILE_SITE}/{HOSTILE}"
    return {"event": f"{base}/{camera}/{window}/event", "state": f"{base}/{camera}/{window}/state",
            "health": f"{base}/{camera}/health"}.get(kind, f"{base}/{kind}")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _timestamp(rng: random.Random, now: datetime) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return _iso(now - timedelta(seconds=rng.uniform(0, 7200)))
    return rng.choice([
        "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-03T10:00:00",
        _iso(now + timedelta(hours=25)), _iso(now + timedelta(hours=23)), _iso(now - timedelta(days=4000)),
        "not a time", 0, -1, 1e300, None, "", "2026-12-03T10:00:00+99:00",
    ])


def _text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return "z" * 60_000
    if roll < 0.6:
        return "".join(rng.choice("abcXYZ019_.-/#+ é\x00\n\u202e") for _ in range(rng.randint(0, 12)))
    return rng.choice(["x" * 65, "y" * 257, "../../etc/passwd", "<script>alert(1)</script>",
                       "'; DROP TABLE event; --", "\ud7ff", "."])


def _number(rng: random.Random) -> Any:
    return rng.choice([0, 1, -1, 2**31, 2**31 - 1, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 0.5, 1e308,
                       -1e308, 1.0000001, float("nan"), float("inf"), True, rng.uniform(-1e6, 1e6),
                       rng.randint(0, 10**6)])


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return _text(rng)
    if roll < 0.6:
        return _number(rng)
    if roll < 0.7 or depth > 1:
        return rng.choice([None, True, False, [], {}])
    if roll < 0.85:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _evidence(rng: random.Random) -> list[Any]:
    refs = []
    for _ in range(rng.randint(0, 3)):
        refs.append({"kind": rng.choice(["snapshot", "clip", "other"]),
                     "id": rng.choice([*VICTIM_EVIDENCE_IDS, "own-snap-0001", "../x", "a" * 65]),
                     "sha256": rng.choice(["0" * 64, "A" * 64, "0" * 63]),
                     "content_type": rng.choice(["image/jpeg", "video/mp4", "text/html"]),
                     "size": rng.choice([0, 10, -1, 2**60]), "duration_s": rng.choice([None, 1.5, -1, 1e12])})
    return refs


def valid(kind: str, rng: random.Random, now: datetime) -> dict[str, Any]:
    """A message of ``kind`` from the hostile device that the contract accepts."""
    at = _iso(now - timedelta(seconds=rng.uniform(0, 600)))
    base: dict[str, Any] = {"v": 1, "site": HOSTILE_SITE, "device": HOSTILE}
    if kind == "event":
        started = now - timedelta(minutes=rng.uniform(1, 60))
        phase = rng.choice(["start", "update", "end"])
        own = f"own-event-{rng.randint(0, 10**6):07d}" if rng.random() < 0.5 else f"own-event-{rng.randint(0, 20):04d}"
        return {**base, "event_id": rng.choice(VICTIM_EVENT_IDS) if rng.random() < 0.3 else own,
                "seq": rng.randint(0, 100), "phase": phase,
                "rule": rng.choice(["unattended_no_sign", "phone_use", "eating", "camera_offline"]),
                "severity": rng.choice(["low", "medium", "high"]), "camera": CAMERA, "window": WINDOW,
                "started_at": _iso(started), "ended_at": _iso(now) if phase == "end" else None, "sent_at": at,
                "confidence": rng.random(), "details": {"k": rng.randint(0, 9)}, "evidence": []}
    if kind == "state":
        state_id = rng.choice(VICTIM_STATE_IDS) if rng.random() < 0.3 else f"own-state-{rng.randint(0, 10**9):09d}"
        return {**base, "state_id": state_id, "camera": CAMERA, "window": WINDOW, "at": at, "changed_at": at,
                "present": rng.random() < 0.5,
                "staff_count": rng.randint(0, 3), "sign": False, "customers": rng.randint(0, 5),
                "in_service_hours": True, "observed": rng.random() < 0.9}
    if kind == "status":
        return {**base, "status": rng.choice(["online", "offline"]), "at": at, "software_version": "1.0",
                "model_version": None}
    if kind == "heartbeat":
        return {**base, "at": at, "uptime_s": rng.uniform(0, 1e5), "outbox_depth": rng.randint(0, 100),
                "cameras": {CAMERA: "ok"}, "analysis_fps": {CAMERA: 5.0}}
    return {**base, "camera": CAMERA, "at": at, "status": rng.choice(["ok", "offline", "dark"]),
            "fps": rng.uniform(0, 30), "last_frame_at": at, "detail": None}


def _mutate(message: dict[str, Any], rng: random.Random, now: datetime) -> dict[str, Any]:
    out = dict(message)
    for _ in range(rng.randint(1, 4)):
        field = rng.choice([*message, "extra"])
        if field.endswith("_at") or field == "at":
            out[field] = _timestamp(rng, now)
        elif field == "evidence":
            out[field] = _evidence(rng)
        elif field == "details":
            out[field] = {_text(rng)[:70]: _value(rng) for _ in range(rng.choice([0, 1, 3, 33]))}
        elif field in ("site", "device", "camera", "window"):
            out[field] = rng.choice([VICTIM_SITE, VICTIM, "cam9", "w99", _text(rng)])
        elif rng.random() < 0.2:
            out.pop(field, None)
        else:
            out[field] = _value(rng)
    return out


Payload = tuple[str, bytes]


def payload(rng: random.Random, now: datetime | None = None) -> Payload:
    """One (topic, payload) the hostile device might publish on its own topics."""
    now = now or datetime.now(UTC)
    kind = rng.choice(KINDS)
    topic = topic_for(kind) if rng.random() < 0.9 else topic_for(kind, camera="cam2", window="w02")
    roll = rng.random()
    if roll < 0.05:
        return topic, rng.randbytes(rng.randint(0, 300))
    if roll < 0.08:
        return topic, json.dumps(_value(rng)).encode()
    message = valid(kind, rng, now)
    if roll < 0.45:  # well formed: the ownership checks and the folding are exercised, not just the schema
        if kind == "event" and rng.random() < 0.3:
            message["evidence"] = [e for e in _evidence(rng) if e["kind"] != "other"][:1]
        return topic, json.dumps(message).encode()
    body = json.dumps(_mutate(message, rng, now), allow_nan=True, default=str).encode()
    return topic, body[: 60 * 1024]  # Mosquitto drops bigger ones (message_size_limit)


def batch(rng: random.Random, n: int, now: datetime | None = None) -> list[Payload]:
    return [payload(rng, now) for _ in range(n)]


Generator = Callable[[random.Random], Payload]
