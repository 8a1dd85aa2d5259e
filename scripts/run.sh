#!/usr/bin/env bash
# The main job: set up, start the embedded PostgreSQL (unless DATABASE_URL is set), migrate, backfill recent
# history, run the simulator + lite ingestion live, and serve the dashboard on http://localhost:8501.
# Ctrl-C stops everything cleanly; the data stays in .data/ for the next start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run

PORT="${PORT:-8501}"
BACKFILL="${BACKFILL:-7d}"
.venv/bin/python -m db up

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "${DATABASE_URL:-}" ]; then .venv/bin/python -m db stop || true; fi
}
trap cleanup EXIT INT TERM

.venv/bin/python -m ingestion run --backfill "$BACKFILL" &
pids+=($!)
.venv/bin/streamlit run app.py --server.port "$PORT" --server.headless true &
pids+=($!)
echo "Madinina Monitor: http://localhost:$PORT  (Ctrl-C to stop)"
wait -n "${pids[@]}"
