"""Embedded broker: amqtt running the project's authentication and ACL, for hosts without Mosquitto.

Mosquitto is the production broker. This module gives the same contract where it is missing (a laptop, a
CI runner): the identity registry (``identities.yaml``) is the source of truth for both, and two amqtt
plugins apply it.

* :class:`RegistryAuthPlugin`: username + password against the registry's ``$7$`` PBKDF2 hashes (the
  ``previous_hash`` of a rotation is accepted too); anonymous clients are refused with CONNACK 5.
* :class:`RegistryAclPlugin`: the registry's :func:`broker.credentials.acl_rules`, with Mosquitto's
  meaning: ``write`` allows PUBLISH, ``read`` allows receiving, ``readwrite`` both.
* :class:`StatePersistencePlugin`: retained messages and the subscriptions of persistent sessions in a
  SQLite file in the data directory, so a restart keeps the retained ``status``/``state``/``health``.

The registry file is re-read whenever it changes, so ``add-identity`` and ``rotate`` take effect for the
next connection without a restart (Mosquitto needs its SIGHUP); established connections stay up.

Differences from the Mosquitto configuration (amqtt 0.12), stated plainly:

* Rotation: the embedded broker accepts the old *and* the new password until ``rotate --finish``, and a
  connection made with the old one stays up. Mosquitto's password file holds one hash per user and
  Mosquitto re-checks live connections on reload: the old password stops working at the reload and a
  connection made with it is dropped (the device must reconnect with the new password).
* A SUBSCRIBE whose filter reaches beyond what the identity may read is refused (SUBACK 0x80).
  Mosquitto 2.0 grants it and drops the unreadable messages at delivery. The outcome is the same (nothing
  unreadable is delivered); the refusal is needed here because amqtt sends retained messages on
  subscription without any read check. Delivery is read-checked as well, like Mosquitto.
* A Last Will on a topic the identity may not publish to is discarded at CONNECT (Mosquitto discards it
  when it would be published); either way it is never delivered.
* amqtt resolves a client's session before authenticating it, and resumes a persistent session for
  whoever presents its client id. :class:`CounterWatchBroker` authenticates first and never resumes a
  session that belongs to another username (a clean one is started instead).
* Queued QoS 1 messages of a disconnected persistent session live in memory only: they survive a client
  reconnect but not a restart of the embedded broker (Mosquitto persists them). A persistent session
  that stays away expires after 14 days, as with ``persistent_client_expiration``. The queue has no limit
  (``max_queued_messages`` is Mosquitto-only). In-flight window per client: none (Mosquitto: 100).
* A resumed persistent session is sent the current retained messages of its subscriptions again on
  reconnect (Mosquitto sends retained messages only on SUBSCRIBE). Readers are idempotent on them.
* ``message_size_limit``: a larger PUBLISH is dropped after it was read (acknowledged, never delivered or
  retained), as Mosquitto does; amqtt has no limit on reading a packet, so it is held in memory once.
* No bridging (``BrokerConfig.extra``, e.g. a hall-to-centre bridge): refused, use Mosquitto.
* MQTT 3.1.1 only (amqtt has no MQTT 5). TLS: client certificates cannot be *required*
  (``require_certificate``); such a configuration is refused instead of served weaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action
from amqtt.errors import MQTTError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin
from amqtt.session import Session
from amqtt.utils import gen_client_id

from broker.credentials import Identity, Registry, acl_rules
from broker.mosquitto import BrokerConfig, wait_for_port
from common.config import ConfigError

log = logging.getLogger("counterwatch.broker.embedded")

STATE_FILE = "embedded-state.sqlite"
SESSION_EXPIRY_S = 14 * 24 * 3600  # Mosquitto: persistent_client_expiration 14d


# -- ACL: Mosquitto's semantics over the registry's rules -------------------------------------------------
def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, trailing ``#`` any number of levels, including none)."""
    flevels, tlevels = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(flevels):
        if level == "#":
            return True
        if i >= len(tlevels) or level not in ("+", tlevels[i]):
            return False
    return len(flevels) == len(tlevels)


def filter_within(inner: str, outer: str) -> bool:
    """Whether every topic matched by filter ``inner`` is also matched by filter ``outer``."""
    ilevels, olevels = inner.split("/"), outer.split("/")
    for i, level in enumerate(olevels):
        if level == "#":
            return True
        if i >= len(ilevels) or ilevels[i] == "#":
            return False
        if level != "+" and (ilevels[i] == "+" or ilevels[i] != level):
            return False
    return len(ilevels) == len(olevels)


def _grants(ident: Identity, access: str) -> list[str]:
    return [pattern for granted, pattern in acl_rules(ident) if granted in (access, "readwrite")]


def may_publish(ident: Identity, topic: str) -> bool:
    return any(topic_matches(p, topic) for p in _grants(ident, "write"))


def may_read(ident: Identity, topic: str) -> bool:
    return any(topic_matches(p, topic) for p in _grants(ident, "read"))


def may_subscribe(ident: Identity, topic_filter: str) -> bool:
    return any(filter_within(topic_filter, p) for p in _grants(ident, "read"))


class RegistryWatcher:
    """The identity registry, re-read when its file changes (one ``stat`` per lookup), with its login index
    (every ACL check looks a login up)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._registry = Registry()
        self._by_login: dict[str, Identity] = {}

    def current(self) -> Registry:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._stamp:
            try:
                self._registry = Registry.load(self.path)
                self._by_login = self._registry.logins()
                self._stamp = stamp
            except Exception:  # a half-edited file must not lock everyone out: keep the last good one
                log.exception("cannot read identity registry %s; keeping the previous one", self.path)
        return self._registry

    def identity(self, login: str | None) -> Identity | None:
        self.current()
        return None if login is None else self._by_login.get(login)


# -- amqtt plugins -----------------------------------------------------------------------------------------
class RegistryAuthPlugin(BaseAuthPlugin):
    """Username/password against the registry; anonymous refused."""

    @dataclass
    class Config:
        registry_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.registry = RegistryWatcher(Path(self.config.registry_file))

    async def authenticate(self, *, session: Session) -> bool:
        if not session.username or session.password is None:
            return False
        registry = self.registry.current()
        if not registry.verify(session.username, session.password):
            log.info("refused %r from %s: bad credentials", session.username, session.remote_address)
            return False
        ident = registry.resolve(session.username)
        assert ident is not None  # verify() found it
        if session.will_flag and not may_publish(ident, session.will_topic or ""):
            log.warning("%s: Last Will on %r is not allowed, discarded", ident.username, session.will_topic)
            session.will_flag = False
        return True


class RegistryAclPlugin(BaseTopicPlugin):
    """Topic access from :func:`broker.credentials.acl_rules`."""

    @dataclass
    class Config:
        registry_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.registry = RegistryWatcher(Path(self.config.registry_file))

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        ident = self.registry.identity(session.username if session else None)
        if ident is None or not topic:
            return False
        if action == Action.PUBLISH:
            allowed = may_publish(ident, topic)
        elif action == Action.RECEIVE:
            allowed = may_read(ident, topic)
        elif action == Action.SUBSCRIBE:
            allowed = may_subscribe(ident, topic)
        else:
            allowed = False
        if not allowed and action != Action.RECEIVE:
            log.info("denied %s %s on %r", ident.username, action, topic)
        return allowed


class StatePersistencePlugin(BasePlugin):
    """Retained messages and persistent sessions' subscriptions in SQLite (small, low-rate writes).

    A restored session keeps its last-seen time, so one that never comes back still expires like in
    Mosquitto (``persistent_client_expiration``) instead of queueing in memory forever.

    Not amqtt's own ``SessionDBPlugin``: it needs aiosqlite, rewrites a session's whole queue for every
    queued message and never forgets delivered ones (they come back after each restart)."""

    @dataclass
    class Config:
        path: str = ""
        expiry_s: int = SESSION_EXPIRY_S

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.db = sqlite3.connect(self.config.path, isolation_level=None)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, data BLOB NOT NULL, qos INT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS subscription (client_id TEXT NOT NULL, username TEXT, topic TEXT NOT NULL,"
            " qos INT NOT NULL, seen_at REAL NOT NULL, PRIMARY KEY (client_id, topic));"
        )

    async def on_broker_post_start(self) -> None:
        retained = self.context.retained_messages
        for topic, data, qos in self.db.execute("SELECT topic, data, qos FROM retained"):
            retained[topic] = RetainedApplicationMessage(None, topic, bytes(data), qos)
        self.db.execute("DELETE FROM subscription WHERE seen_at < ?", (time.time() - self.config.expiry_s,))
        rows = self.db.execute("SELECT client_id, username, topic, qos, seen_at FROM subscription").fetchall()
        for client_id, username, topic, qos, seen_at in rows:
            await self.context.add_subscription(client_id, None, None)
            session = self.context.get_session(client_id)
            session.clean_session = False
            session.username = username
            session.last_disconnect_time = int(seen_at)
            await self.context.add_subscription(client_id, topic, qos)
        log.info("restored %d retained message(s), %d subscription(s)", len(retained), len(rows))

    async def on_broker_retained_message(
        self, *, client_id: str | None, retained_message: RetainedApplicationMessage
    ) -> None:
        if client_id is not None:  # a message queued for an offline session: in memory only (see docstring)
            return
        if retained_message.data:
            self.db.execute(
                "INSERT OR REPLACE INTO retained VALUES (?, ?, ?)",
                (retained_message.topic, bytes(retained_message.data), retained_message.qos or 0),
            )
        else:
            self.db.execute("DELETE FROM retained WHERE topic = ?", (retained_message.topic,))

    async def on_broker_client_connected(self, *, client_id: str, client_session: Session) -> None:
        if client_session.clean_session:
            self.db.execute("DELETE FROM subscription WHERE client_id = ?", (client_id,))
        else:  # a session taken over by another username starts clean (CounterWatchBroker)
            self.db.execute("DELETE FROM subscription WHERE client_id = ? AND username IS NOT ?",
                            (client_id, client_session.username))
            self._seen(client_id)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Session) -> None:
        self._seen(client_id)

    async def on_broker_client_subscribed(self, *, client_id: str, topic: str, qos: int) -> None:
        session = self.context.get_session(client_id)
        if session is not None and not session.clean_session:
            self.db.execute("INSERT OR REPLACE INTO subscription VALUES (?, ?, ?, ?, ?)",
                            (client_id, session.username, topic, qos, time.time()))

    async def on_broker_client_unsubscribed(self, *, client_id: str, topic: str) -> None:
        self.db.execute("DELETE FROM subscription WHERE client_id = ? AND topic = ?", (client_id, topic))

    def _seen(self, client_id: str) -> None:
        self.db.execute("UPDATE subscription SET seen_at = ? WHERE client_id = ?", (time.time(), client_id))

    async def close(self) -> None:
        self.db.close()


# -- the broker ----------------------------------------------------------------------------------------------
class CounterWatchBroker(Broker):
    """amqtt's broker with the fixes that keep sessions as safe as Mosquitto's (see module docstring)."""

    def __init__(self, config: dict[str, Any], message_size_limit: int | None = None) -> None:
        super().__init__(config)
        self.message_size_limit = message_size_limit

    async def _handle_message_delivery(
        self, client_session: Session, handler: BrokerProtocolHandler, wait_deliver: asyncio.Future[Any]
    ) -> bool:
        message = wait_deliver.result() if wait_deliver.done() and not wait_deliver.cancelled() else None
        limit = self.message_size_limit
        if message is not None and limit is not None and message.data is not None and len(message.data) > limit:
            # Mosquitto's message_size_limit: dropped, the connection stays (the PUBACK was already sent).
            log.warning("%s: PUBLISH of %d bytes on %r is over message_size_limit %d: dropped",
                        client_session.username, len(message.data), message.topic, limit)
            return True
        return bool(await super()._handle_message_delivery(client_session, handler, wait_deliver))

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        handler, incoming = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        # Authenticate before the client id may touch an existing session (delete it or take it over).
        if not await self._authenticate(incoming, None):
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise MQTTError(f"not authorised: {incoming.username!r} from {remote_address}:{remote_port}")
        existing = self._sessions.get(incoming.client_id, (None, None))[0] if incoming.client_id else None
        if existing is not None and (incoming.clean_session or existing.username != incoming.username):
            # Not resumed: drop the old session *and its connection* (amqtt would leave that one running
            # detached from any session); Mosquitto likewise disconnects a client whose id is reused.
            await self._cleanup_session(incoming.client_id)
            existing = None
        if incoming.clean_session and not incoming.client_id:
            incoming.client_id = gen_client_id()
        session = incoming
        if existing is not None:  # resume: the new CONNECT brings its own will and keep-alive
            for attr in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive"):
                setattr(existing, attr, getattr(incoming, attr))
            existing.password = incoming.password
            session = existing
        session.parent = 1 if existing is not None else 0
        return handler, session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        # amqtt sends retained messages here without a read check, and on reconnect for every filter any
        # client subscribed to: only the session's own filters, only what it may read.
        topic_filter, _ = subscription
        own = [q for s, q in self._subscriptions.get(topic_filter, []) if s.client_id == session.client_id]
        handler = self._get_handler(session)
        if not own or handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(session, topic, Action.RECEIVE):
                qos = min(own[0], retained.qos if retained.qos is not None else own[0])
                tasks.append(asyncio.ensure_future(handler.mqtt_publish(topic, retained.data, qos, retain=True)))
        if tasks:
            await asyncio.wait(tasks)


def amqtt_config(cfg: BrokerConfig) -> dict[str, Any]:
    """The amqtt configuration equivalent to :func:`broker.mosquitto.render_config`."""
    if cfg.extra:
        # Raw Mosquitto lines (a bridge to the central broker): amqtt has no equivalent, so do not pretend.
        raise ValueError(f"the embedded broker cannot apply Mosquitto settings {cfg.extra[:2]}: use Mosquitto")
    listeners: dict[str, Any] = {}
    if cfg.plain_listener:
        listeners["default"] = {"type": "tcp", "bind": f"{cfg.host}:{cfg.port}"}
    if cfg.tls is not None:
        if cfg.tls.require_certificate:
            # amqtt asks for client certificates but never requires them: refuse rather than run weaker.
            raise ValueError("the embedded broker cannot require client certificates: use Mosquitto")
        # amqtt wants a listener named "default"; the TLS one takes that name when it is the only one.
        listeners["tls" if listeners else "default"] = {
            "type": "tcp",
            "bind": f"{cfg.host}:{cfg.tls_port or 8883}",
            "ssl": True,
            "cafile": str(cfg.tls.cafile),
            "certfile": str(cfg.tls.certfile),
            "keyfile": str(cfg.tls.keyfile),
        }
    registry = {"registry_file": str(cfg.registry_file)}
    return {
        "listeners": listeners,
        "session_expiry_interval": SESSION_EXPIRY_S,
        "plugins": {
            f"{__name__}.RegistryAuthPlugin": registry,
            f"{__name__}.RegistryAclPlugin": registry,
            f"{__name__}.StatePersistencePlugin": {"path": str(cfg.data_dir / STATE_FILE)},
        },
    }


async def run_until(cfg: BrokerConfig, stop: asyncio.Event, started: threading.Event | None = None) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    broker = CounterWatchBroker(amqtt_config(cfg), message_size_limit=cfg.message_size_limit)
    await broker.start()
    if started is not None:
        started.set()
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def serve_embedded(cfg: BrokerConfig) -> None:
    """Run the embedded broker until SIGTERM or SIGINT (blocking)."""
    try:
        amqtt_config(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_until(cfg, stop)

    asyncio.run(main())
    log.info("embedded broker stopped")


class EmbeddedBroker:
    """The embedded broker on its own thread and event loop (tests, ``counterwatch up``).

    Same surface as :class:`broker.mosquitto.MosquittoProcess`: ``start``, ``stop``, ``reload``,
    ``running`` and use as a context manager."""

    def __init__(self, cfg: BrokerConfig) -> None:
        self.cfg = cfg
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        started = threading.Event()
        self._error = None

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            try:
                loop.run_until_complete(run_until(self.cfg, self._stop, started))
            except BaseException as exc:
                self._error = exc
                started.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"amqtt-{self.cfg.port}", daemon=True)
        self._thread.start()
        if not started.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"embedded broker did not start: {self._error!r}")
        wait_for_port(self.cfg.host, self.cfg.ready_port, timeout)
        return self

    def reload(self) -> None:
        """Nothing to do: the registry file is re-read when it changes (kept for MosquittoProcess parity)."""

    def stop(self, kill: bool = False) -> None:
        del kill  # an in-process broker cannot be killed; shutdown drops every connection without a goodbye
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout=15)
        self._thread = self._loop = self._stop = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
