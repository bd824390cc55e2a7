#!/usr/bin/env bash
# CounterWatch bootstrap: the only two commands a fresh machine needs.
#   ./cw up [counterwatch up options]   set everything up, start broker + dashboard + one edge node
#   ./cw test [pytest args]             set everything up, run ruff, mypy and the whole test suite
# Also: ./cw setup [--test] [--train]   just install (system packages, .venv, Python packages)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
source scripts/setup.sh

cmd="${1:-help}"; shift || true
case "$cmd" in
  up)    cw_setup runtime; exec "$VENV/bin/counterwatch" up "$@" ;;
  test)  cw_setup test;    exec bash scripts/test.sh "$@" ;;
  setup) cw_setup "${1:-runtime}" ;;
  train) cw_setup train;   exec "$VENV_TRAIN/bin/python" -m models.cli train "$@" ;;
  *)     sed -n '2,6p' "$0"; exit 2 ;;
esac
