"""``counterwatch bench ...``: benchmarks that print JSON. The harnesses live in :mod:`rigs`, which no service
imports."""

from __future__ import annotations

import argparse
import importlib

BENCHES = {
    "edge": ("rigs.bench_edge", "edge pipeline throughput per core and ms per stage"),
    "ingest": ("rigs.bench_ingest", "MQTT -> database ingest rate and latency"),
    "report": ("rigs.bench_report", "monthly reconciliation build time"),
    "soak": ("rigs.soak", "many simulated cameras with injected faults"),
    "broker": ("rigs.bench_broker", "QoS 1 messages/s through a real Mosquitto"),
    "scenarios": ("rigs.scenarios.bench", "scenario clips with ground truth: per-rule precision, recall, latency"),
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="benchmarks that print JSON")
    benches = parser.add_subparsers(dest="bench", required=True)
    for name, (module, help_text) in BENCHES.items():
        p = benches.add_parser(name, help=help_text)

        def handler(args: argparse.Namespace, module: str = module) -> int:
            return int(importlib.import_module(module).run(args) or 0)

        # Each bench module declares its own options; import lazily only the one asked for.
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError:
            p.description = "(not available in this build)"
        p.set_defaults(handler=handler)
