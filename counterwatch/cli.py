"""The ``counterwatch`` command. Each service contributes its own sub-commands from its ``cli`` module;
they are imported only when needed so that, say, ``counterwatch edge`` never loads the dashboard."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from common import __version__
from common.logs import setup_logging

# command -> (module that registers it, help)
SERVICES: dict[str, tuple[str, str]] = {
    "broker": ("broker.cli", "MQTT broker: serve, identities, schemas"),
    "edge": ("edge.cli", "edge node: run cameras, detect, publish events"),
    "dashboard": ("dashboard.cli", "central dashboard: ingest, API, web UI"),
    "models": ("models.cli", "detector: dataset, train, export, evaluate"),
    "sign": ("edge.sign_cli", "print a pause sign (PDF/PNG) with its ArUco marker"),
    "bench": ("counterwatch.bench", "benchmarks that print JSON"),
    "up": ("counterwatch.up", "start broker, dashboard and one edge node on a sample source"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="counterwatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"counterwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only import the chosen service (help lists all of them without importing any).
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in SERVICES.items():
        if name == wanted:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    setup_logging(args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        build_parser([args.command]).parse_args([args.command, "--help"])
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
