"""``counterwatch bench soak``: many simulated cameras for a long time, with faults injected on a schedule.

Every part on the path is the real one: each simulated device owns a real edge outbox (SQLite) and the
real edge publisher (paho, QoS 1, persistent session); it connects through :class:`NetProxy` (so the
link can be cut) to a real Mosquitto run with the project's config; ``counterwatch dashboard ingest`` runs
as a child process (so it can be SIGKILLed) into a real SQLite or PostgreSQL database. Only the video
analysis is synthesised: each camera emits the rule engine's output stream (an event's ``start``, then
its ``end``) at a steady rate.

Faults, cycled every ``--fault-every`` seconds: ``broker`` (SIGKILL Mosquitto, restart it), ``netcut``
(cut the edge-broker link for ``--cut-seconds``; 600 for the issue's 10-minute outage), ``ingest``
(SIGKILL the ingest process, restart it). At the end the devices drain, and the database is compared with
what was sent. Prints JSON; exit status 1 when an event is missing or incomplete.

The building blocks (:class:`SoakBroker`, :class:`SimDevice`, :class:`IngestProcess`, :func:`stored_events`)
are reused by ``tests/faults``."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from broker.codec import encode
from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, write_files
from broker.payloads import EventMessage, EventPhase, HeartbeatMessage, Rule, Severity
from broker.topics import Topic, TopicKind
from dashboard.db.scratch import scratch_database
from rigs.netproxy import NetProxy

log = logging.getLogger("rigs.soak")

SITE = "hall1"
FAULTS = ("broker", "netcut", "ingest")
ROOT = Path(__file__).resolve().parents[1]


# -- the broker -----------------------------------------------------------------------------------------
class SoakBroker:
    """A Mosquitto with the project's config and one identity per simulated device."""

    def __init__(self, data_dir: Path, devices: list[str], site: str = SITE) -> None:
        registry = Registry()
        self.passwords = {"dashboard": registry.add("dashboard", Role.DASHBOARD)}
        for device in devices:
            self.passwords[device] = registry.add(device, Role.DEVICE, site=site)
        registry.save(data_dir / "identities.yaml")
        self.cfg = BrokerConfig(data_dir=data_dir, port=free_port())
        write_files(self.cfg, registry)
        self.process = MosquittoProcess(self.cfg)
        self.restarts = 0

    @property
    def host(self) -> str:
        return self.cfg.host

    @property
    def port(self) -> int:
        return self.cfg.port

    def start(self) -> SoakBroker:
        self.process.start()
        return self

    def kill_and_restart(self, down_s: float = 0.0) -> None:
        """SIGKILL: no clean shutdown, no final save of the persistence file."""
        self.process.stop(kill=True)
        time.sleep(down_s)
        self.process.start()
        self.restarts += 1

    def stop(self) -> None:
        self.process.stop()


# -- a simulated edge device ----------------------------------------------------------------------------
@dataclass
class Emitted:
    event_id: str
    start_enqueued: float  # time.time() when the start message entered the outbox
    ended: bool = False


class SimDevice:
    """One edge device with cameras whose rule output is synthesised, sent through the real outbox and
    publisher. ``clock_offset`` skews the device's clock (its timestamps) against the dashboard's."""

    def __init__(
        self,
        device: str,
        cameras: list[str],
        outbox_path: Path,
        *,
        host: str,
        port: int,
        password: str,
        site: str = SITE,
        keepalive: int = 5,
        clock_offset: timedelta = timedelta(0),
        lost_when_overtaken_s: float = 60.0,
    ) -> None:
        from edge.outbox import Outbox, ReceiptPolicy
        from edge.publish import Publisher
        from edge.settings import MqttSettings

        self.site, self.device, self.cameras = site, device, cameras
        self.clock_offset = clock_offset
        self.outbox = Outbox(outbox_path, receipts=ReceiptPolicy(overtaken_s=lost_when_overtaken_s))
        settings = MqttSettings(host=host, port=port, username=device, password=password, keepalive_s=keepalive,
                                client_id=f"cw-{site}-{device}")
        self.publisher = Publisher(settings, site=site, device=device, outbox=self.outbox)
        self.emitted: dict[str, Emitted] = {}
        self._open: dict[str, tuple[EventMessage, Emitted]] = {}
        self._serial = itertools.count()
        self._started = time.monotonic()

    def start(self) -> SimDevice:
        self.publisher.start()
        return self

    def stop(self, *, graceful: bool = True) -> None:
        self.publisher.stop(graceful=graceful)
        self.outbox.close()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def window_of(self, camera: str) -> str:
        return window_code(self.device, camera)

    def _topic(self, camera: str) -> str:
        return str(Topic(TopicKind.EVENT, self.site, self.device, camera, self.window_of(camera)))

    def step(self, camera: str) -> None:
        """The camera's next rule output: end its open event, or start a new one."""
        if camera in self._open:
            self.end(camera)
        else:
            self.begin(camera)

    def begin(self, camera: str) -> str:
        now = self.now()
        event_id = f"{self.device}-{camera}-{next(self._serial):07d}"
        msg = EventMessage(
            site=self.site, device=self.device, event_id=event_id, seq=0, phase=EventPhase.START,
            rule=Rule.PHONE_USE, severity=Severity.MEDIUM, camera=camera, window=self.window_of(camera),
            started_at=now, sent_at=now, confidence=0.8,
        )
        emitted = Emitted(event_id, time.time())
        self.outbox.put(self._topic(camera), encode(msg), kind="event")
        self.emitted[event_id] = emitted
        self._open[camera] = (msg, emitted)
        return event_id

    def end(self, camera: str) -> None:
        start, emitted = self._open.pop(camera)
        now = max(self.now(), start.started_at)
        msg = start.model_copy(update={"seq": 1, "phase": EventPhase.END, "ended_at": now, "sent_at": now})
        self.outbox.put(self._topic(camera), encode(msg), kind="event")
        emitted.ended = True

    def finish(self) -> None:
        for camera in list(self._open):
            self.end(camera)

    def heartbeat(self) -> bool:
        beat = HeartbeatMessage(site=self.site, device=self.device, at=self.now(),
                                uptime_s=time.monotonic() - self._started, outbox_depth=self.outbox.depth(),
                                outbox_full=self.outbox.full, outbox_awaiting_receipt=self.outbox.awaiting_receipt(),
                                receipt_resends=self.outbox.counter("receipt_resends"),
                                mqtt_reconnects=max(0, self.publisher.connects - 1))
        return self.publisher.publish_now(str(Topic(TopicKind.HEARTBEAT, self.site, self.device)), encode(beat))


# -- the ingest as a child process ----------------------------------------------------------------------
class IngestProcess:
    """``counterwatch dashboard ingest`` in its own process, so a test can SIGKILL it."""

    def __init__(self, db_url: str, host: str, port: int, password: str, *, state_dir: Path,
                 client_id: str = "cw-soak-ingest", log_path: Path | None = None) -> None:
        self.env = {
            **os.environ,
            "CW_DASHBOARD_DATABASE_URL": db_url, "CW_DASHBOARD_MQTT__HOST": host,
            "CW_DASHBOARD_MQTT__PORT": str(port), "CW_DASHBOARD_MQTT__PASSWORD": password,
            "CW_DASHBOARD_MQTT__CLIENT_ID": client_id, "CW_DASHBOARD_STATE_DIR": str(state_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        }
        self.log_path = log_path or state_dir / "ingest.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> IngestProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "counterwatch.cli", "dashboard", "ingest"],
                                         env=self.env, stdout=out, stderr=out, cwd=ROOT)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# -- what the database holds ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredEvent:
    seq: int
    phase: str
    started_at: datetime
    ended_at: datetime | None


def window_code(device: str, camera: str) -> str:
    """The one window a simulated camera sees (window codes are unique per site)."""
    return f"{device}-{camera}w"


def registered_database(db_url: str, layout: dict[str, list[str]]) -> Any:
    """Migrate the database and register every simulated device with its cameras; returns the Database."""
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.registry import CameraSpec, register_device

    upgrade(db_url)
    db = Database(db_url)
    with db.session() as s:
        for device_id, cams in layout.items():
            register_device(s, SITE, device_id, [CameraSpec(c, (window_code(device_id, c),)) for c in cams])
    return db


def stored_events(db: Any) -> dict[str, StoredEvent]:
    from sqlalchemy import select

    from dashboard.db.models import Event

    with db.session() as s:
        rows = s.execute(select(Event.event_id, Event.seq, Event.phase, Event.started_at, Event.ended_at))
        return {r[0]: StoredEvent(r[1], r[2], r[3], r[4]) for r in rows}


def ingest_counters(db: Any) -> dict[str, int]:
    from sqlalchemy import select

    from dashboard.db.models import IngestCounter

    with db.session() as s:
        return {c.name: c.value for c in s.scalars(select(IngestCounter))}


def event_rows(db: Any) -> int:
    from sqlalchemy import func, select

    from dashboard.db.models import Event

    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def compare(sent: dict[str, Emitted], stored: dict[str, StoredEvent]) -> dict[str, Any]:
    """What went in against what came out: every sent event stored once, with its end folded in."""
    missing = sorted(set(sent) - set(stored))
    unexpected = sorted(set(stored) - set(sent))
    incomplete = sorted(e for e in sent if e in stored and sent[e].ended
                        and (stored[e].phase != "end" or stored[e].seq != 1))
    return {"events_sent": len(sent), "events_stored": len(set(stored) & set(sent)), "missing": len(missing),
            "incomplete": len(incomplete), "unexpected": len(unexpected), "missing_ids": missing[:10],
            "incomplete_ids": incomplete[:10]}


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()


class LagProbe(threading.Thread):
    """Polls for newly committed event rows and records publish (outbox enqueue) -> committed lags. The
    figure is an upper bound, accurate to the poll interval."""

    def __init__(self, db: Any, sent: Callable[[str], Emitted | None], poll_s: float = 0.5) -> None:
        super().__init__(name="soak-lag", daemon=True)
        self.db, self.sent, self.poll_s = db, sent, poll_s
        self.lags: list[float] = []
        self.stop_event = threading.Event()
        self._last_id = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.poll_s):
            with contextlib.suppress(Exception):  # the database may be briefly locked or restarting
                self.poll()

    def poll(self) -> None:
        from sqlalchemy import select

        from dashboard.db.models import Event

        with self.db.session() as s:
            rows = s.execute(select(Event.id, Event.event_id).where(Event.id > self._last_id)
                             .order_by(Event.id)).all()
        seen = time.time()
        for pk, event_id in rows:
            self._last_id = max(self._last_id, pk)
            emitted = self.sent(event_id)
            if emitted is not None:
                self.lags.append(seen - emitted.start_enqueued)


# -- the bench ------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cameras", type=int, default=30, help="simulated cameras (default 30)")
    parser.add_argument("--cameras-per-device", type=int, default=3, help="cameras per edge device (default 3)")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the cameras emit (default 600)")
    parser.add_argument("--events-per-minute", type=float, default=6.0,
                        help="rule outputs per camera per minute: every other one starts an event (default 6)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="server for --database postgresql (a temporary database is created on it)")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated, cycled: {', '.join(FAULTS)} (empty: none)")
    parser.add_argument("--fault-every", type=float, default=30.0, help="seconds between fault starts")
    parser.add_argument("--cut-seconds", type=float, default=20.0, help="network cut length (600 = 10 minutes)")
    parser.add_argument("--ingest-down-seconds", type=float, default=5.0)
    parser.add_argument("--broker-down-seconds", type=float, default=2.0)
    parser.add_argument("--lost-when-overtaken", type=float, default=60.0,
                        help="edge: a message without a receipt is presumed lost when one PUBACKed this many "
                        "seconds later got its receipt (the edge default)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary directory)")


@dataclass
class FaultLog:
    injected: list[dict[str, Any]] = field(default_factory=list)

    def record(self, kind: str, started: float, seconds: float, **extra: Any) -> None:
        self.injected.append({"fault": kind, "at_s": round(started, 1), "seconds": round(seconds, 1), **extra})


def _database(kind: str, workdir: Path, postgres_url: str) -> contextlib.AbstractContextManager[str]:
    if kind == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{workdir / 'dashboard.db'}")
    return scratch_database(postgres_url, "cw_soak")


def run(args: argparse.Namespace) -> int:
    faults = [f for f in (x.strip() for x in args.faults.split(",")) if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
    logging.getLogger("edge").setLevel(logging.ERROR)  # reconnect warnings by the hundred during cuts
    temp = None if args.workdir else tempfile.mkdtemp(prefix="cw-soak-")
    workdir = Path(args.workdir) if args.workdir else Path(str(temp))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with _database(args.database, workdir, args.postgres_url) as db_url:
            report = soak(args, faults, workdir, db_url)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["missing"] == 0 and report["incomplete"] == 0 else 1


def soak(args: argparse.Namespace, faults: list[str], workdir: Path, db_url: str) -> dict[str, Any]:
    per = max(1, args.cameras_per_device)
    n_devices = -(-args.cameras // per)
    layout: dict[str, list[str]] = {}
    for i in range(args.cameras):
        layout.setdefault(f"soak-d{i // per:03d}", []).append(f"cam{i % per}")
    db = registered_database(db_url, layout)
    broker = SoakBroker(workdir / "mosquitto", list(layout)).start()
    proxy = NetProxy(broker.host, broker.port).start()
    ingest = IngestProcess(db_url, broker.host, broker.port, broker.passwords["dashboard"],
                           state_dir=workdir / "ingest").start()
    devices = [SimDevice(d, cams, workdir / "outbox" / f"{d}.sqlite", host=proxy.host, port=proxy.port,
                         password=broker.passwords[d], lost_when_overtaken_s=args.lost_when_overtaken).start()
               for d, cams in layout.items()]
    sent: dict[str, Emitted] = {}
    probe = LagProbe(db, sent.get)
    probe.start()
    log_faults = FaultLog()
    t0 = time.monotonic()
    stop_faults = threading.Event()

    def inject() -> None:
        for n, kind in enumerate(itertools.cycle(faults)):
            if stop_faults.wait(max(0.0, t0 + (n + 1) * args.fault_every - time.monotonic())):
                return
            if time.monotonic() - t0 >= args.seconds:
                return
            started = time.monotonic() - t0
            if kind == "broker":
                broker.kill_and_restart(args.broker_down_seconds)
                log_faults.record(kind, started, time.monotonic() - t0 - started, signal="SIGKILL")
            elif kind == "netcut":
                proxy.cut()
                stop_faults.wait(args.cut_seconds)
                proxy.restore()
                log_faults.record(kind, started, time.monotonic() - t0 - started)
            elif kind == "ingest":
                ingest.kill()
                time.sleep(args.ingest_down_seconds)
                ingest.start()
                log_faults.record(kind, started, time.monotonic() - t0 - started, signal="SIGKILL")

    injector = threading.Thread(target=inject, name="soak-faults", daemon=True)
    if faults:
        injector.start()
    interval = 60.0 / args.events_per_minute
    cameras = [(d, c) for d in devices for c in d.cameras]
    next_at = {key: t0 + interval * i / len(cameras) for i, key in enumerate(cameras)}  # spread the phases
    next_beat = t0
    while time.monotonic() - t0 < args.seconds:
        now = time.monotonic()
        for (device, camera), due in next_at.items():
            if now >= due:
                device.step(camera)
                next_at[(device, camera)] = due + interval
        if now >= next_beat:
            for device in devices:
                device.heartbeat()
            next_beat = now + 5
        for device in devices:
            sent.update(device.emitted)
        time.sleep(0.05)
    emitted_for_s = time.monotonic() - t0
    stop_faults.set()
    injector.join(args.cut_seconds + 30) if faults else None
    if proxy.is_cut:
        proxy.restore()
    for device in devices:
        device.finish()
        sent.update(device.emitted)
    drain_start = time.monotonic()
    drained = wait_until(lambda: all(d.outbox.depth() == 0 for d in devices), args.drain_timeout, 0.5)

    def complete_now() -> bool:
        found = compare(sent, stored_events(db))
        return found["missing"] == 0 and found["incomplete"] == 0

    complete = wait_until(complete_now, max(10.0, args.drain_timeout - (time.monotonic() - drain_start)), 1.0)
    drain_s = time.monotonic() - drain_start
    probe.stop_event.set()
    probe.join(5)
    with contextlib.suppress(Exception):
        probe.poll()
    depths = {d.device: d.outbox.depth() for d in devices}
    reconnects = sum(max(0, d.publisher.connects - 1) for d in devices)
    resends = sum(d.publisher.resent for d in devices)
    presumed_lost = sum(d.outbox.counter("presumed_lost") for d in devices)
    for device in devices:
        device.stop()
    ingest.stop()
    proxy.stop()
    broker.stop()
    stored = stored_events(db)
    result = compare(sent, stored)
    counters = ingest_counters(db)
    rows = event_rows(db)
    db.dispose()
    lags = sorted(probe.lags)
    messages_sent = 2 * sum(1 for e in sent.values() if e.ended)
    return {
        "bench": "soak",
        "database": args.database,
        "cameras": args.cameras,
        "devices": n_devices,
        "seconds": round(emitted_for_s, 1),
        **{k: v for k, v in result.items() if not k.endswith("_ids") or v},
        "event_rows": rows,
        "duplicate_rows": rows - len(stored),
        "messages_sent": messages_sent,
        "messages_received_by_ingest": counters.get("accepted", 0) + counters.get("duplicate", 0)
        + counters.get("rejected", 0),
        "redeliveries_absorbed": counters.get("duplicate", 0),
        "dead_letters": counters.get("rejected", 0),
        "ingest_counters": counters,
        "lag_s": {"max": round(lags[-1], 2) if lags else None,
                  "p50": round(statistics.median(lags), 2) if lags else None,
                  "p99": round(lags[int(0.99 * (len(lags) - 1))], 2) if lags else None,
                  "resolution_s": probe.poll_s, "what": "outbox enqueue of the start -> row seen committed"},
        "drained": drained and complete,
        "drain_s": round(drain_s, 1),
        "outbox_depth_at_end": sum(depths.values()),
        "faults_injected": log_faults.injected,
        "netproxy": {"cuts": proxy.stats.cuts, "dropped_connections": proxy.stats.dropped_connections,
                     "blackholed_connections": proxy.stats.blackholed_connections},
        "broker_restarts": broker.restarts,
        "publisher_reconnects": reconnects,
        "receipt_resends": resends,
        "presumed_lost_by_broker": presumed_lost,
        "ingest_kills": ingest.kills,
    }
