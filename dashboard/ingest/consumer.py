"""The MQTT side of the ingest: a persistent QoS 1 session, batched commits, ACK only after commit.

paho's network thread only queues messages; a writer thread folds them into the database in batches
(``max_batch`` messages or ``max_delay_ms`` after the first, whichever comes first) and acknowledges each
message to the broker after its batch is committed. If the dashboard dies mid-batch the broker still holds
the unacknowledged messages in our persistent session (fixed client id, clean_session False) and
redelivers them on reconnect; the idempotent fold makes the redelivery harmless.

While the database is unavailable the writer retries the same batch (backing off to 10 s) and acknowledges
nothing, so the broker keeps queueing. The outage is counted: live in :class:`IngestStats`, and on the first
commit after it in the database's running totals (``db_outages``, ``db_commit_failures``, ``db_outage_ms``,
shown by ``GET /api/admin/ingest/counters``)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker.receipts import receipts_for
from broker.topics import INGEST_SUBSCRIPTIONS
from dashboard.db.engine import Database
from dashboard.db.models import utcnow
from dashboard.ingest.apply import BatchResult, IngestLimits, Ingestor, RawMessage
from dashboard.settings import DashboardSettings, IngestSettings, MqttSettings

log = logging.getLogger("counterwatch.dashboard.ingest")


@dataclass(frozen=True)
class _Queued:
    raw: RawMessage
    qos: int
    generation: int  # the connection it arrived on: a packet id is only meaningful there


@dataclass
class IngestStats:
    received: int = 0
    committed: int = 0
    batches: int = 0
    receipts_sent: int = 0
    connected: bool = False
    last_commit_monotonic: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Database health: failed commit attempts, outages (a run of failures), seconds unavailable in total.
    db_commit_failures: int = 0
    db_outages: int = 0
    db_unavailable_s: float = 0.0
    db_down_since_monotonic: float | None = None  # set while the database is unavailable
    last_db_error: str | None = None


class IngestConsumer:
    def __init__(
        self,
        mqtt_settings: MqttSettings,
        ingest_settings: IngestSettings,
        db: Database,
        grace: timedelta = timedelta(minutes=5),
        on_batch: Callable[[list[RawMessage], BatchResult], None] | None = None,
    ) -> None:
        self.mqtt_settings = mqtt_settings
        self.ingest_settings = ingest_settings
        self.ingestor = Ingestor(db, grace, IngestLimits.from_settings(ingest_settings))
        self.on_batch = on_batch
        self.stats = IngestStats()
        self._queue: queue.Queue[_Queued] = queue.Queue()
        self._stop = threading.Event()
        self._generation = 0
        self._writer: threading.Thread | None = None
        self._connected = threading.Event()
        self.client = self._make_client()

    @classmethod
    def from_settings(cls, settings: DashboardSettings, db: Database, **kwargs: Any) -> IngestConsumer:
        return cls(settings.mqtt, settings.ingest, db,
                   grace=timedelta(minutes=settings.notice_grace_minutes), **kwargs)

    def _make_client(self) -> mqtt.Client:
        cfg = self.mqtt_settings
        if cfg.protocol == "mqttv5":  # persistence comes from clean_start=False + the session expiry (connect)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, clean_session=False,
                                 protocol=mqtt.MQTTv311)
        cfg.configure(client)
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_connect_fail = lambda *_: log.warning("broker %s:%d unreachable; retrying", cfg.host, cfg.port)
        return client

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, wait_connected: float | None = 10.0) -> IngestConsumer:
        self._writer = threading.Thread(target=self._write_loop, name="cw-ingest-writer", daemon=True)
        self._writer.start()
        cfg = self.mqtt_settings
        if cfg.protocol == "mqttv5":
            session = Properties(PacketTypes.CONNECT)
            session.SessionExpiryInterval = cfg.session_expiry_s
            self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False,
                                      properties=session)
        else:
            self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self.client.loop_start()
        if wait_connected and not self._connected.wait(wait_connected):
            log.warning("ingest not connected to %s:%d yet; retrying in the background",
                        self.mqtt_settings.host, self.mqtt_settings.port)
        return self

    def stop(self) -> None:
        """Commit and acknowledge what has arrived, then disconnect."""
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """QoS 1 publish on the ingest's connection (model rollout commands)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise ConnectionError(f"broker did not acknowledge the publish to {topic}")

    # -- paho callbacks (network thread) ---------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest connection: %s", reason)
            return
        self._generation += 1
        self.stats.connected = True
        client.subscribe([(self.mqtt_settings.subscription(topic), 1) for topic in INGEST_SUBSCRIPTIONS])
        log.info("ingest connected (%s, session present: %s)", self.mqtt_settings.protocol,
                 getattr(flags, "session_present", "?"))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        # start() returns only once the broker has granted the subscriptions: a device message published
        # between CONNACK and SUBACK would otherwise never reach a fresh session.
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused %d ingest subscription(s): %s", len(refused), refused)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.stats.connected = False
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("ingest disconnected (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        raw = RawMessage(msg.topic, bytes(msg.payload), utcnow(), msg.mid)
        self._queue.put(_Queued(raw, msg.qos, self._generation))

    # -- writer thread -----------------------------------------------------------------------------
    def _next_batch(self) -> list[_Queued]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.ingest_settings.max_delay_ms / 1000
        while len(batch) < self.ingest_settings.max_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            raws = [q.raw for q in batch]
            result = self._commit(raws)
            if result is None:
                return  # stopping with the database down: unacknowledged, so the broker keeps them
            for q in batch:
                # A packet id from an earlier connection means nothing now; the broker redelivers those.
                if q.qos > 0 and q.generation == self._generation:
                    self.client.ack(q.raw.mid, q.qos)
            if self.ingest_settings.receipts:
                self._send_receipts(raws)
            self.stats.committed += len(batch)
            self.stats.batches += 1
            self.stats.last_commit_monotonic = time.monotonic()
            self.stats.counts = dict(self.ingestor.totals)
            if self.on_batch is not None:
                self.on_batch(raws, result)

    def _send_receipts(self, raws: list[RawMessage]) -> None:
        """Committed (stored, duplicate or dead-lettered: all durable here): tell the senders. paho queues
        them while disconnected; a receipt that is lost anyway only makes the edge send the message again."""
        for topic, payload in receipts_for((raw.topic, raw.payload) for raw in raws):
            self.client.publish(topic, payload, qos=1)
            self.stats.receipts_sent += 1

    def _commit(self, raws: list[RawMessage]) -> BatchResult | None:
        """Apply the batch, retrying while the database is unavailable (nothing is acknowledged meanwhile)."""
        delay = 0.5
        failures = 0
        while True:
            down_since = self.stats.db_down_since_monotonic
            extra = {} if down_since is None else {
                "db_outages": 1, "db_commit_failures": failures,
                "db_outage_ms": round((time.monotonic() - down_since) * 1000)}
            try:
                result = self.ingestor.apply(raws, extra)
            except Exception as exc:
                failures += 1
                self.stats.db_commit_failures += 1
                self.stats.last_db_error = f"{type(exc).__name__}: {exc}"[:300]
                if down_since is None:
                    self.stats.db_down_since_monotonic = time.monotonic()
                    self.stats.db_outages += 1
                    log.exception("could not commit %d messages; retrying (nothing is acknowledged meanwhile)",
                                  len(raws))
                else:
                    log.warning("database still unavailable (%d failed attempts): %s; retrying in %.1fs",
                                failures, self.stats.last_db_error, delay)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, 10.0)
                continue
            if down_since is not None:
                outage_s = time.monotonic() - down_since
                self.stats.db_unavailable_s += outage_s
                self.stats.db_down_since_monotonic = None
                log.warning("database back after %.1fs (%d failed commit attempts)", outage_s, failures)
            return result
