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
echo "== pytest (SQLite)"
python -m pytest "$@"
echo "== pytest (PostgreSQL: database-backed tests again on a real server)"
CW_TEST_DATABASE=postgresql python -m pytest -m "db" -p no:cacheprovider "$@"
