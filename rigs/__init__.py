"""Rigs: benchmarks and fault-injection harnesses, run by ``counterwatch bench ...`` and the fault tests.

They drive the real services from outside (a real Mosquitto, real edge outboxes and publishers, the real
ingest as a child process), so they may import edge/, broker/, dashboard/ and common/; no service ever
imports a rig (tests/test_layering.py enforces it).

    soak.py           ``bench soak``: many simulated cameras with broker kills, WAN cuts, ingest kills
    netproxy.py       a loopback TCP proxy that can cut a link (soak and tests/faults)
    bench_edge.py     ``bench edge``: edge pipeline frames/s per core, ms per stage
    bench_ingest.py   ``bench ingest``: MQTT -> database ingest rate and latency
    bench_report.py   ``bench report``: monthly reconciliation build time
    bench_broker.py   ``bench broker``: QoS 1 messages/s through a real Mosquitto
"""
