"""A whole delivery path for fault tests, built from the soak bench's real parts: simulated edge devices
(real outbox + real publisher) -> optionally a :class:`NetProxy` -> a real Mosquitto -> the real
``counterwatch dashboard ingest`` process -> a real database. The test injects a fault, then counts what
went in against what came out."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dashboard.db.engine import Database
from rigs.netproxy import NetProxy
from rigs.soak import (
    Emitted,
    IngestProcess,
    SimDevice,
    SoakBroker,
    compare,
    event_rows,
    ingest_counters,
    registered_database,
    stored_events,
    wait_until,
)


@dataclass
class Rig:
    workdir: Path
    db: Database
    broker: SoakBroker
    ingest: IngestProcess
    devices: list[SimDevice]
    proxy: NetProxy | None
    sent: dict[str, Emitted] = field(default_factory=dict)

    def collect(self) -> None:
        for device in self.devices:
            self.sent.update(device.emitted)

    def emit(self, seconds: float, outputs_per_s: float, *, on_tick: Callable[[], None] | None = None,
             heartbeat_s: float = 2.0, until: Callable[[], bool] | None = None) -> int:
        """Every camera emits rule outputs at a steady rate (round robin over all cameras) for ``seconds``
        or until ``until()``; returns how many outputs were enqueued."""
        cameras = [(d, c) for d in self.devices for c in d.cameras]
        interval = 1.0 / outputs_per_s
        t0 = time.monotonic()
        n = 0
        next_beat = t0
        while time.monotonic() - t0 < seconds and not (until and until()):
            due = t0 + n * interval
            while time.monotonic() >= due and time.monotonic() - t0 < seconds:
                device, camera = cameras[n % len(cameras)]
                device.step(camera)
                n += 1
                due = t0 + n * interval
            now = time.monotonic()
            if now >= next_beat:
                for device in self.devices:
                    device.heartbeat()
                next_beat = now + heartbeat_s
            if on_tick is not None:
                on_tick()
            time.sleep(min(0.05, max(0.0, due - time.monotonic())))
        self.collect()
        return n

    def depth(self) -> int:
        """Outbox rows not settled by a delivery receipt (unsent, in flight, or awaiting the receipt)."""
        return sum(d.outbox.depth() for d in self.devices)

    def unsent(self) -> int:
        """Outbox rows the broker has not acknowledged yet."""
        return sum(d.outbox.unsent() for d in self.devices)

    def drain(self, timeout: float) -> dict[str, Any]:
        """End every open event, wait until the outboxes are empty and the database holds everything;
        returns the comparison of sent and stored, with row counts."""
        for device in self.devices:
            device.finish()
        self.collect()
        started = time.monotonic()
        wait_until(lambda: self.depth() == 0, timeout, 0.5)

        def complete() -> bool:
            found = compare(self.sent, stored_events(self.db))
            return found["missing"] == 0 and found["incomplete"] == 0

        wait_until(complete, max(10.0, timeout - (time.monotonic() - started)), 1.0)
        stored = stored_events(self.db)
        rows = event_rows(self.db)
        return {**compare(self.sent, stored), "event_rows": rows, "distinct_event_ids": len(stored),
                "duplicate_rows": rows - len(stored), "outbox_depth": self.depth(),
                "drain_s": round(time.monotonic() - started, 1), "ingest_counters": ingest_counters(self.db)}

    def device_status(self) -> dict[str, tuple[str, dict[str, Any] | None]]:
        """What the dashboard records per device: availability (online/offline) and the last heartbeat."""
        from dashboard.db.models import Device

        with self.db.session() as s:
            return {d.id: (d.status.value, d.heartbeat) for d in s.scalars(select(Device))}

    def dead_letters(self) -> int:
        from dashboard.db.models import DeadLetter

        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)


@contextlib.contextmanager
def fault_rig(workdir: Path, db_url: str, *, devices: int = 2, cameras: int = 2, via_proxy: bool = False,
              keepalive: int = 5, prefix: str = "fault", lost_when_overtaken_s: float = 60.0) -> Iterator[Rig]:
    logging.getLogger("edge").setLevel(logging.ERROR)  # reconnect warnings by the hundred during a fault
    layout = {f"{prefix}-d{i}": [f"cam{j}" for j in range(cameras)] for i in range(devices)}
    db = registered_database(db_url, layout)
    broker = SoakBroker(workdir / "mosquitto", list(layout)).start()
    proxy = NetProxy(broker.host, broker.port).start() if via_proxy else None
    ingest = IngestProcess(db_url, broker.host, broker.port, broker.passwords["dashboard"],
                           state_dir=workdir / "ingest", client_id=f"cw-{prefix}-ingest").start()
    host, port = (proxy.host, proxy.port) if proxy else (broker.host, broker.port)
    sims: list[SimDevice] = []
    rig = Rig(workdir, db, broker, ingest, sims, proxy)
    try:
        # The ingest's persistent session must exist before the devices publish, or the broker has no one
        # to queue for.
        log = workdir / "ingest" / "ingest.log"
        if not wait_until(lambda: log.exists() and "ingest connected" in log.read_text(), 60):
            raise RuntimeError(f"ingest did not connect: {log.read_text() if log.exists() else 'no log'}")
        for device_id, cams in layout.items():
            sims.append(SimDevice(device_id, cams, workdir / "outbox" / f"{device_id}.sqlite", host=host,
                                  port=port, password=broker.passwords[device_id], keepalive=keepalive,
                                  lost_when_overtaken_s=lost_when_overtaken_s).start())
        if not wait_until(lambda: all(d.publisher.connected.is_set() for d in sims), 30):
            raise RuntimeError("simulated devices did not connect")
        yield rig
    finally:
        for sim in sims:
            with contextlib.suppress(Exception):
                sim.stop()
        ingest.stop()
        if proxy is not None:
            proxy.stop()
        broker.stop()
        db.dispose()
