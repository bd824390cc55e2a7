#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest on SQLite and again on PostgreSQL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CW_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff"; ruff check .
echo "== mypy"; mypy

# The ten-minute network cut (tests/faults/test_network_cut.py) spends its time waiting, not computing: on
# a whole run it goes in a pytest of its own beside the rest instead of adding its ten minutes at the end.
NETCUT=tests/faults/test_network_cut.py
netcut_pid=""
trap '[ -z "$netcut_pid" ] || kill "$netcut_pid" 2>/dev/null || true' EXIT  # a failed run leaves it no orphan
if [ $# -eq 0 ]; then
  netcut_dir="$(mktemp -d)"
  echo "== pytest ($NETCUT, beside the rest; its log: $netcut_dir/log)"
  python -m pytest -p no:cacheprovider --basetemp "$netcut_dir/tmp" "$NETCUT" > "$netcut_dir/log" 2>&1 &
  netcut_pid=$!
  set -- --ignore "$NETCUT"
fi

echo "== pytest (SQLite)"
python -m pytest "$@"
if [ -n "$netcut_pid" ]; then
  echo "== pytest ($NETCUT, waited for)"
  status=0; wait "$netcut_pid" || status=$?
  netcut_pid=""
  tail -n 25 "$netcut_dir/log"
  [ "$status" -eq 0 ] || { echo "$NETCUT failed (exit $status)"; exit "$status"; }
fi
echo "== pytest (PostgreSQL: database-backed tests again on a real server)"
CW_TEST_DATABASE=postgresql python -m pytest -m "db" -p no:cacheprovider "$@"
