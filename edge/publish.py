"""Delivery: MQTT publisher draining the outbox, and the HTTP evidence uploader.

MQTT: paho-mqtt 2.x, QoS 1, persistent session (clean_session False, stable client id) so the broker
keeps the command subscriptions while we are away; Last Will = retained ``offline`` status, an ``online``
status on every connect. A PUBACK parks an outbox row; the dashboard's delivery receipt (``cmd/receipt``,
``broker/receipts.py``) settles it, and a row without one is sent again when due (``Outbox.pending``).

The dashboard keeps the status with the newest ``at``. The Will is armed before each connection attempt and
the ``online`` of that connection carries the same ``at``; the dashboard lets ``offline`` win that tie. (A
Will armed once at start-up would be older than every later ``online`` and be ignored: a node cut off
would never show offline.)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.codec import encode
from broker.evidence import DEVICE_HEADER, FINAL_STATUSES, SHA256_HEADER, evidence_path
from broker.payloads import ModelRollout, NodeStatus, ReceiptMessage, StatusMessage
from broker.topics import Topic, TopicKind, command_filter
from common import __version__
from edge.outbox import Outbox, OutClip
from edge.settings import DashboardSettings, MqttSettings
from edge.sources import Backoff

log = logging.getLogger(__name__)

RESEND_AFTER_S = 30.0


class Publisher:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        site: str,
        device: str,
        outbox: Outbox,
        model_version: Callable[[], str | None] = lambda: None,
        on_rollout: Callable[[ModelRollout], None] | None = None,
        inflight: int = 32,
    ) -> None:
        self.site, self.device, self.outbox = site, device, outbox
        self.settings = settings
        self.model_version = model_version
        self.on_rollout = on_rollout
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (outbox row id, sent at)
        # In-flight bookkeeping belongs to the sender thread alone: paho calls on_publish while holding its
        # own message lock, so taking a lock of ours there (that the sender holds around publish()) would
        # deadlock. PUBACKs are handed over through this queue instead.
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.status_topic = str(Topic(TopicKind.STATUS, site, device))
        client_id = settings.client_id or f"cw-{site}-{device}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        settings.configure(self.client, default_username=device)
        self._session_at = datetime.now(UTC)  # the ``at`` of this connection's Will and its ``online``
        self.connects = 0  # successful connections (health: reconnects = connects - 1)
        self.disconnects = 0  # connections lost (or closed) after being established
        self.receipted = 0  # outbox rows the dashboard's receipts settled (this process)
        self.resent = 0  # rows sent again for want of a receipt (this process)
        self._arm_will()
        self._window = inflight  # outbox rows in flight at once; paho's own window is set larger
        self.client.max_inflight_messages_set(inflight + 8)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_pre_connect = lambda *_: self._arm_will()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        # Rollouts run one after another off the network thread (a download takes a while); a command that
        # arrives while one runs waits its turn, so the newest command is the one that ends up applied.
        self._rollouts: queue.SimpleQueue[ModelRollout] = queue.SimpleQueue()
        self._rollout_thread = threading.Thread(target=self._rollout_worker, name="rollout", daemon=True)

    def _status(self, status: NodeStatus, at: datetime | None = None) -> bytes:
        return encode(StatusMessage(site=self.site, device=self.device, status=status, at=at or datetime.now(UTC),
                                    software_version=__version__, model_version=self.model_version()))

    def _arm_will(self) -> None:
        """Before every connection attempt (paho's network thread): a Will newer than the last ``online``."""
        self._session_at = datetime.now(UTC)
        self.client.will_set(self.status_topic, self._status(NodeStatus.OFFLINE, self._session_at), qos=1,
                             retain=True)

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Publisher:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self.client.loop_start()
        self._thread.start()
        self._rollout_thread.start()
        return self

    def stop(self, *, graceful: bool = True) -> None:
        self._stop.set()
        self.outbox.changed.set()
        self._thread.join(5)
        if graceful and self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status(NodeStatus.OFFLINE), qos=1, retain=True)
            info.wait_for_publish(3)
            self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread) ------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.warning("MQTT connection refused: %s", rc)
            return
        self.connects += 1
        log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
        client.publish(self.status_topic, self._status(NodeStatus.ONLINE, self._session_at), qos=1, retain=True)
        client.subscribe(command_filter(self.site, self.device), qos=1)  # model rollouts, receipts
        self.connected.set()
        self.outbox.changed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if self.connected.is_set():
            self.disconnects += 1
        self.connected.clear()
        log.warning("MQTT disconnected: %s (outbox keeps everything not acknowledged)", rc)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        self._acks.put(mid)
        self.outbox.changed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        from broker.codec import Rejected, decode

        try:
            _, message = decode(msg.topic, bytes(msg.payload))
        except Rejected as exc:
            log.warning("ignored command on %s: %s", msg.topic, exc)
            return
        if isinstance(message, ReceiptMessage):
            if (message.site, message.device) == (self.site, self.device):
                self.receipted += self.outbox.receipted(message.digests)
            return
        if isinstance(message, ModelRollout) and self.on_rollout is not None:
            if (message.site, message.device) != (self.site, self.device):
                log.warning("ignored model rollout addressed to %s/%s", message.site, message.device)
                return
            self._rollouts.put(message)

    def _rollout_worker(self) -> None:
        while not self._stop.is_set():
            try:
                command = self._rollouts.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                if self.on_rollout is not None:
                    self.on_rollout(command)
            except Exception:  # a failed rollout must not end the worker: the next command still applies
                log.exception("model rollout %s failed", command.version)

    # -- sender -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        session = 0
        while not self._stop.is_set():
            self.outbox.changed.wait(1.0)  # the 1 s tick also picks up rows due again for want of a receipt
            self.outbox.changed.clear()
            self._settle_acks()
            if not self.connected.is_set():
                continue
            now = time.monotonic()
            if session != self.connects:  # paho re-sends its in-flight rows on reconnect: restart their clocks
                session = self.connects
                self._inflight = {mid: (row, now) for mid, (row, _) in self._inflight.items()}
            # A row unacknowledged for long while connected is sent again (same payload, same ids).
            for mid in [mid for mid, (_, at) in self._inflight.items() if now - at > RESEND_AFTER_S]:
                del self._inflight[mid]
            busy = {row for row, _ in self._inflight.values()}
            room = self._window - len(self._inflight)
            if room <= 0:
                continue
            for row in self.outbox.pending(room, exclude=busy):
                if not self.connected.is_set():
                    break
                info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                # Registered before this thread looks at the ack queue again, so no PUBACK is missed.
                self._inflight[info.mid] = (row.id, now)
                if row.sends:
                    self.resent += 1
                    self.outbox.bump("receipt_resends")

    def _settle_acks(self) -> None:
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                return
            entry = self._inflight.pop(mid, None)
            if entry is not None:  # unknown mids: status messages, or rows already re-sent
                self.outbox.ack(entry[0])

    def publish_now(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Best-effort QoS 0 send outside the outbox (heartbeats: only the latest one matters)."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topic, payload, qos=0, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    @property
    def inflight(self) -> int:
        return len(self._inflight)


class Uploader(threading.Thread):
    """PUTs evidence files per broker/evidence.py until the dashboard confirms them."""

    def __init__(self, settings: DashboardSettings, *, device: str, outbox: Outbox) -> None:
        super().__init__(name="evidence-upload", daemon=True)
        self.settings, self.device, self.outbox = settings, device, outbox
        self.stop_event = threading.Event()
        self.uploaded = 0
        self.refused = 0

    def run(self) -> None:
        if not self.settings.url:
            log.info("no dashboard URL: evidence stays on this node")
            return
        backoff = Backoff(2.0, 300.0)
        headers = {"Authorization": f"Bearer {self.settings.token or ''}", DEVICE_HEADER: self.device}
        with httpx.Client(base_url=self.settings.url.rstrip("/"), timeout=self.settings.timeout_s,
                          headers=headers) as http:
            while not self.stop_event.is_set():
                clips = self.outbox.due_clips()
                if not clips:
                    self.outbox.changed.wait(1.0)
                    continue
                for clip in clips:
                    if not self._upload(http, clip):
                        self.outbox.clip_retry(clip, backoff.delay())
                        break
                    backoff.reset()

    def _upload(self, http: httpx.Client, clip: OutClip) -> bool:
        """True when the clip is settled (stored, or refused for good)."""
        try:
            body = clip.path.read_bytes()
        except FileNotFoundError:
            log.error("evidence file %s vanished; dropping its upload", clip.path)
            self.outbox.clip_done(clip, delete_file=False)
            return True
        try:
            resp = http.put(evidence_path(clip.evidence_id), content=body,
                            headers={"Content-Type": clip.content_type, SHA256_HEADER: clip.sha256})
        except httpx.HTTPError as exc:
            log.warning("evidence upload %s failed: %s (will retry)", clip.evidence_id, exc)
            return False
        if resp.status_code in (200, 201):
            self.uploaded += 1
            self.outbox.clip_done(clip)
            return True
        if resp.status_code in FINAL_STATUSES:
            self.refused += 1
            log.error("dashboard refused evidence %s: %d %s", clip.evidence_id, resp.status_code, resp.text[:200])
            self.outbox.clip_done(clip)
            return True
        log.warning("evidence upload %s: HTTP %d (will retry)", clip.evidence_id, resp.status_code)
        return False
