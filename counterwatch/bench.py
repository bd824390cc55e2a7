"""``counterwatch bench ...``: benchmarks that print JSON. Each lives beside the code it measures."""

from __future__ import annotations

import argparse
import importlib

BENCHES = {
    "edge": ("edge.bench", "edge pipeline throughput per core and ms per stage"),
    "ingest": ("dashboard.bench_ingest", "MQTT -> database ingest rate and latency"),
    "report": ("dashboard.reports.bench", "monthly reconciliation build time"),
    "soak": ("counterwatch.soak", "many simulated cameras with injected faults"),
    "broker": ("broker.bench_broker", "QoS 1 messages/s through a real Mosquitto"),
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
