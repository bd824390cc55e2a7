"""``counterwatch edge run --config FILE``: run the edge node."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from common.config import ConfigError, load_settings
from edge.settings import EdgeSettings

log = logging.getLogger(__name__)


def load(args: argparse.Namespace) -> EdgeSettings:
    settings = load_settings(EdgeSettings, args.config)
    if args.source:
        if len(settings.cameras) != 1:
            raise ConfigError("--source replaces the source of the only camera; the config has "
                              f"{len(settings.cameras)} cameras")
        camera = settings.cameras[0].model_copy(update={"source": args.source})
        settings = settings.model_copy(update={"cameras": [camera]})
    if args.fast:
        settings = settings.model_copy(update={"cameras": [c.model_copy(update={"realtime": False})
                                                           for c in settings.cameras]})
    if not settings.cameras:
        raise ConfigError("cameras: at least one camera is needed to run")
    return settings


def _run(args: argparse.Namespace) -> int:
    from edge.detect import ModelError
    from edge.memory import tune_allocator
    from edge.node import EdgeNode

    settings = load(args)
    tune_allocator()  # before any camera thread allocates a frame
    try:
        node = EdgeNode(settings)
    except ModelError as exc:
        raise ConfigError(f"detector: {exc}") from None
    log.info("edge %s/%s: %d camera(s), model %s", settings.site, settings.device, len(settings.cameras),
             node.detector.current.version)
    return node.run(max_seconds=args.max_seconds, until_eof=args.until_eof, drain_timeout=args.drain_timeout)


def _check(args: argparse.Namespace) -> int:
    settings = load(args)
    print(f"{args.config}: ok ({len(settings.cameras)} camera(s), "
          f"{sum(len(c.windows) for c in settings.cameras)} window(s))")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("edge", help="edge node: run cameras, detect, publish events")
    cmds = parser.add_subparsers(dest="edge_command", required=True)
    for name, handler, text in (("run", _run, "run the node"), ("check", _check, "validate a config file")):
        p = cmds.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True, help="edge YAML config")
        p.add_argument("--source", help="replace the (single) camera's source")
        p.add_argument("--fast", action="store_true", help="files: do not pace playback to real time")
        p.set_defaults(handler=handler)
        if name == "run":
            p.add_argument("--max-seconds", type=float, help="stop after this many seconds")
            p.add_argument("--until-eof", action="store_true",
                           help="files: stop at the end of every source, after the outbox drained")
            p.add_argument("--drain-timeout", type=float, default=120.0,
                           help="seconds to wait for the outbox to drain before exiting")
