"""Backfill throughput against the writer's own rate measured in the same run, on both branches of DESIGN §2
(plain PostgreSQL and TimescaleDB, two embedded servers: bench/branches.py), each in a fresh database.

  writer    ingestion.writer.Writer on bench.ingest's rows (1 s apart, batches of 100,000): the baseline
  backfill  `python -m ingestion backfill 7d` as the run command starts it (ingestion.backfill.Backfill, step
            60 s, the default network): readings, seconds, readings/s, and its ratio to the writer
  backfill again  the same range a second time (nothing new: what a restart costs)
  --before REV    first the backfill of that git revision (its whole ingestion/ package, exported with git archive,
                  run in a subprocess) on a fresh database of the same server migrated with that revision's
                  db/migrations/, then this one: ratio after / before

DESIGN §6 target: 7 days of the default network in <= 20 s on 2 cores.
Usage: .venv/bin/python -m bench.backfill [--days 7] [--writer-rows 1000000] [--no-alerts] [--before REV]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg2

from bench import load_average
from bench.branches import branch_servers, url_for
from bench.ingest import bench_writer, drop_db, fresh_db, make_rows
from ingestion.backfill import Backfill

ROOT = Path(__file__).resolve().parents[1]
# Run in the subprocess, with the revision's ingestion/ first on sys.path (everything else from this checkout).
_BEFORE = """
import json, sys
from ingestion.backfill import Backfill
r = Backfill(sys.argv[1], span_s=float(sys.argv[2]), step_s=float(sys.argv[3]), end=float(sys.argv[4]), out=None,
             alerts=sys.argv[5] == "1").run()
print(json.dumps({"readings": r.readings, "seconds": r.seconds, "alerts": r.alerts,
                  "alerts_seconds": getattr(r, "alerts_seconds", None)}))
"""


def export_ingestion(revision: str, into: Path) -> Path:
    """The ingestion/ package and db/migrations/ as they were at `revision`, under `into` (its database gets that
    revision's schema: an index a migration since then dropped or added counts for the revision that has it)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "ingestion", "db/migrations"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def backfill_before(code: Path, url: str, args, end: float) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])}
    argv = [url, str(args.days * 86400), str(args.step), str(end), "0" if args.no_alerts else "1"]
    # -P: no current directory first on sys.path, which would import this checkout's ingestion/ instead
    done = subprocess.run(
        [sys.executable, "-P", "-c", _BEFORE, *argv], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"the backfill of the revision failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alerts_by_hour(url: str) -> dict[int, int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT extract(hour FROM opened_at AT TIME ZONE 'America/Martinique')::int, count(*)"
                " FROM alerts GROUP BY 1 ORDER BY 1"
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--step", type=float, default=60.0)
    parser.add_argument("--writer-rows", type=int, default=1_000_000)
    parser.add_argument("--no-alerts", action="store_true", help="leave out the historic alerts evaluation")
    parser.add_argument("--branch", choices=["plain", "timescaledb"], help="measure one branch only")
    parser.add_argument("--before", metavar="REV", help="also time the backfill of this git revision, first")
    args = parser.parse_args()
    before_code = export_ingestion(args.before, Path(tempfile.mkdtemp())) if args.before else None
    befores = {}

    rows = make_rows(args.writer_rows)
    results = {}
    print(f"load average at the start: {load_average()}", flush=True)
    with branch_servers() as servers:
        for branch, admin in servers.items():
            if args.branch and branch != args.branch:
                continue
            db = fresh_db(admin)
            try:
                writer_s = bench_writer(url_for(admin, db), rows, 100_000)
            finally:
                drop_db(admin, db)
            print(f"{branch:12s} writer   {len(rows):>10,} readings in {writer_s:7.2f}s", flush=True)
            if before_code:
                db = fresh_db(admin, migrations=before_code / "db" / "migrations")
                try:
                    befores[branch] = backfill_before(before_code, url_for(admin, db), args, time.time())
                finally:
                    drop_db(admin, db)
                b = befores[branch]
                print(
                    f"{branch:12s} backfill of {args.before}: {b['readings']:>10,} readings in {b['seconds']:7.2f}s "
                    f"({b['alerts']} alerts in {b['alerts_seconds'] or 0:.2f}s)",
                    flush=True,
                )
            db = fresh_db(admin)
            try:
                url = url_for(admin, db)
                end = time.time()
                runs = []
                for _ in range(2):
                    job = Backfill(
                        url, span_s=args.days * 86400, step_s=args.step, end=end, out=None, alerts=not args.no_alerts
                    )
                    runs.append(job.run())
                by_hour = alerts_by_hour(url)
            finally:
                drop_db(admin, db)
            first, again = runs
            print(
                f"{branch:12s} backfill {first.readings:>10,} readings in {first.seconds:7.2f}s "
                f"({first.fast_chunks} chunks direct, {first.merged_chunks} merged, {first.alerts} alerts "
                f"in {first.alerts_seconds:.2f}s); "
                f"again {again.seconds:.2f}s ({again.stored} new)",
                flush=True,
            )
            results[branch] = (len(rows) / writer_s, first, again)
            print(f"{branch:12s} historic alerts opened per hour of day (Martinique): {by_hour}", flush=True)
    print()
    print(f"{'':34s}" + "".join(f"{b:>14s}" for b in results))
    lines = (
        ("writer readings/s", lambda w, f, a: f"{w:,.0f}"),
        ("backfill readings", lambda w, f, a: f"{f.readings:,}"),
        ("backfill seconds", lambda w, f, a: f"{f.seconds:.2f}"),
        ("backfill readings/s", lambda w, f, a: f"{f.readings / f.seconds:,.0f}"),
        ("backfill / writer", lambda w, f, a: f"{f.readings / f.seconds / w:.2f}x"),
        ("  of which historic alerts, s", lambda w, f, a: f"{f.alerts_seconds:.2f}"),
        ("chunks only readings/s", lambda w, f, a: f"{f.readings / (f.seconds - f.alerts_seconds):,.0f}"),
        ("historic alerts", lambda w, f, a: f"{f.alerts:,}"),
        ("second run over the same range, s", lambda w, f, a: f"{a.seconds:.2f}"),
    )
    for label, fn in lines:
        print(f"{label:34s}" + "".join(f"{fn(*r):>14s}" for r in results.values()))
    if befores:
        print(f"{'backfill readings/s of ' + args.before:34s}"
              + "".join(f"{befores[b]['readings'] / befores[b]['seconds']:>14,.0f}" for b in results))  # fmt: skip
        print(f"{'after / before':34s}" + "".join(
            f"{f.readings / f.seconds / (befores[b]['readings'] / befores[b]['seconds']):>13.2f}x"
            for b, (_, f, _) in results.items()))  # fmt: skip
    print(f"target: {args.days:g} days <= 20 s")
    print(f"load average at the end: {load_average()}", flush=True)


if __name__ == "__main__":
    main()
