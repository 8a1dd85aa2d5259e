#!/usr/bin/env bash
# Set up everything the tests need, lint, then run the whole suite (unit, integration, e2e).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k simulator
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev || exit 1
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's 5 = no test collected: a test command that runs nothing is a broken test command.
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
