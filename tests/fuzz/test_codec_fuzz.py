"""Hypothesis fuzz of broker.codec.decode: nothing but Rejected ever escapes, valid messages round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.codec import Rejected, decode, encode
from broker.payloads import EventMessage, EventPhase, Rule, Severity

SEGMENT = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z").filter(lambda s: s.strip("."))  # "." and ".." are refused
EVENT_ID = st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z")
GOOD_TOPIC = "cw/v1/hall1/edge-a/cam1/w01/event"
TOPICS = st.one_of(
    st.text(max_size=80),
    st.lists(st.text(max_size=12), min_size=1, max_size=9).map("/".join),
    st.sampled_from([GOOD_TOPIC, "cw/v1/hall1/edge-a/status", "cw/v1/hall1/edge-a/heartbeat",
                     "cw/v1/hall1/edge-a/cam1/health", "cw/v1/hall1/edge-a/cam1/w01/state",
                     "cw/v1/hall1/edge-a/cmd/model", "cw/v1/hall1/edge-a/cmd/receipt"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=20,
)
def no_nul_text(**kw: int) -> st.SearchStrategy[str]:
    # NUL is refused (PostgreSQL); a lone surrogate is no Unicode text at all (it cannot be UTF-8 encoded), so
    # a "valid event" strategy must not draw one (hypothesis found '\ud800' as a details key).
    return st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), **kw)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_rejected(topic: str, payload: bytes) -> None:
    try:
        decode(topic, payload)
    except Rejected as exc:
        assert exc.code and exc.reason
    # anything else propagates and fails the test


@FUZZ
@given(TOPICS, st.binary(max_size=512))
def test_arbitrary_bytes_only_ever_rejected(topic: str, payload: bytes) -> None:
    _only_rejected(topic, payload)


@FUZZ
@given(TOPICS, JSON)
def test_arbitrary_json_only_ever_rejected(topic: str, value: object) -> None:
    _only_rejected(topic, json.dumps(value).encode())


@FUZZ
@given(st.sampled_from([GOOD_TOPIC]), JSON, st.dictionaries(st.sampled_from(
    ["v", "site", "device", "event_id", "seq", "phase", "rule", "camera", "window", "started_at", "sent_at",
     "ended_at", "confidence", "evidence", "details"]), JSON, max_size=8))
def test_valid_message_with_fields_overwritten_only_rejected(topic: str, _v: object, patch: dict[str, object]) -> None:
    base = json.loads(encode(_event("evt-00000001", 0)))
    base.update(patch)
    _only_rejected(topic, json.dumps(base).encode())


def _event(event_id: str, seq: int, camera: str = "cam1", window: str = "w01",
           started: datetime = datetime(2026, 1, 1, tzinfo=UTC), ended: timedelta | None = None,
           details: dict[str, str | int | float | bool] | None = None) -> EventMessage:
    return EventMessage(
        site="hall1", device="edge-a", event_id=event_id, seq=seq,
        phase=EventPhase.END if ended is not None else EventPhase.START, rule=Rule.EATING, severity=Severity.LOW,
        camera=camera, window=window, started_at=started, ended_at=None if ended is None else started + ended,
        sent_at=started, confidence=0.5, details=details or {},
    )


@FUZZ
@given(EVENT_ID, st.integers(0, 2**31 - 1), SEGMENT, SEGMENT,
       st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
       st.dictionaries(no_nul_text(min_size=1, max_size=8), st.integers(-(2**53), 2**53) | no_nul_text(max_size=10)
                       | st.booleans(), max_size=5))
def test_valid_events_round_trip(event_id: str, seq: int, camera: str, window: str, started: datetime,
                                 ended: timedelta | None, details: dict[str, str | int | float | bool]) -> None:
    message = _event(event_id, seq, camera, window, started, ended, details)
    topic = f"cw/v1/hall1/edge-a/{camera}/{window}/event"
    parsed_topic, decoded = decode(topic, encode(message))
    assert decoded == message
    assert str(parsed_topic) == topic


@FUZZ
@given(SEGMENT.filter(lambda s: s != "cam1"))
def test_identity_in_payload_must_match_topic(camera: str) -> None:
    try:
        decode(f"cw/v1/hall1/edge-a/{camera}/w01/event", encode(_event("evt-00000001", 0)))
    except Rejected as exc:
        assert exc.code == "identity_mismatch"
    else:
        raise AssertionError("a payload naming another camera than its topic was accepted")
