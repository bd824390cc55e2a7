"""``python -m rigs.scenarios build [NAME ...]``: render scenario clips (see rigs/scenarios/build.py)."""

from __future__ import annotations

import sys

from rigs.scenarios.build import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["build"]:
        args = args[1:]
    sys.exit(main(args))
