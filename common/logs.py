"""One log format for every CounterWatch process (CLI commands, child processes of ``up`` and the rigs)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once per process; a later call (say, a child command) changes nothing."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
