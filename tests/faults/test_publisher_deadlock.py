"""The edge publisher under a steady stream of PUBACKs: every outbox row must leave (none may hang).

Found while building the soak bench: ``Publisher._run`` holds ``Publisher._lock`` while calling
``client.publish`` (which takes paho's ``_out_message_mutex``), and paho's network thread holds
``_out_message_mutex`` while calling ``Publisher._on_publish`` (which takes ``Publisher._lock``): a
lock-order inversion that deadlocks both threads as soon as a PUBACK arrives while a publish is under way.
The outbox then never drains and the node stops sending for good."""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.outbox import Outbox
from edge.publish import Publisher
from edge.settings import MqttSettings
from tests.support.mqtt import BrokerHandle

pytestmark = pytest.mark.integration

TOPIC = "cw/v1/hall1/edge-a/cam1/w01/event"


def test_outbox_of_5000_drains_without_deadlock(tmp_path: Path, fresh_mosquitto: BrokerHandle) -> None:
    broker = fresh_mosquitto
    outbox = Outbox(tmp_path / "outbox.sqlite")
    n = 5000
    for i in range(n):
        outbox.put(TOPIC, str(i).encode(), kind="event")
    settings = MqttSettings(host=broker.host, port=broker.port, username="edge-a",
                            password=broker.passwords["edge-a"], keepalive=5)
    publisher = Publisher(settings, site="hall1", device="edge-a", outbox=outbox).start()
    try:
        deadline = time.monotonic() + 90
        last, last_change = outbox.unsent(), time.monotonic()
        while outbox.unsent() and time.monotonic() < deadline:
            time.sleep(0.5)
            depth = outbox.unsent()
            if depth != last:
                last, last_change = depth, time.monotonic()
            elif time.monotonic() - last_change > 20:
                break  # no progress for 20 s while connected to a healthy broker: stuck
        if outbox.unsent():
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        assert outbox.unsent() == 0, f"{outbox.unsent()} of {n} rows stuck in the outbox (publisher deadlock?)"
    finally:
        # A deadlocked paho thread would hang loop_stop() forever: stop from a thread we can give up on.
        stopper = threading.Thread(target=publisher.stop, kwargs={"graceful": False}, daemon=True)
        stopper.start()
        stopper.join(10)
