"""The alerts engine's tick on the default network (ingestion/alerts.py: one statement evaluating every condition,
reconciling `alerts` and appending `alert_events`), next to the evaluation of the conditions alone measured in the
same run (what any engine must pay; the rest is the workflow's reconciliation).

  conditions only   the statement's condition CTEs, counted (no write)
  first tick        an empty alerts table: every current condition opens an alert (one event each)
  steady tick       the conditions persist: last_seen_at moves, no event (what runs every 5 s)
  steady + history  the same with a long history of closed alerts and their events in the tables

With --before REV, the engine of that git revision (e.g. 5c868df, before the alert workflow) runs its steady ticks
interleaved with this one's on the same data, so the machine's load hits both alike.

Usage: .venv/bin/python -m bench.alerts [--minutes 10] [--ticks 40] [--history 100000] [--before REV]
Starts its own throw-away PostgreSQL (the project's embedded server code, a temporary directory, a free port); the
readings (the simulator's default network at its live rate, the last `--minutes` minutes) go through the real
Writer first (not timed).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from ingestion import alerts
from ingestion.registry import sync_catalogue
from ingestion.simulator import Simulator
from ingestion.writer import Writer
from tests.support.services import free_port

_CONDITIONS_ONLY = alerts._EVALUATE[: alerts._EVALUATE.index("), cond AS (")] + ") SELECT count(*) FROM conditions"


def _params() -> dict:
    return {
        "stuck_metrics": list(alerts.STUCK_ELIGIBLE),
        "stuck_min_count": alerts.STUCK_MIN_COUNT,
        "spike_sigma": alerts.SPIKE_SIGMA,
    }


def _times(fn, ticks: int) -> list[float]:
    out = []
    for _ in range(ticks):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _engine_at(revision: str, work: Path):
    """ingestion/alerts.py as it was at `revision` (git), as a module."""
    source = subprocess.run(["git", "show", f"{revision}:ingestion/alerts.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1]).stdout  # fmt: skip
    (work / "alerts_before.py").write_text(source)
    spec = importlib.util.spec_from_file_location("alerts_before", work / "alerts_before.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["alerts_before"] = module
    spec.loader.exec_module(module)
    return module


def _interleaved(before, engine, ticks: int) -> tuple[list[float], list[float]]:
    old, new = [], []
    for _ in range(ticks):
        old += _times(lambda: before.evaluate(engine), 1)
        new += _times(lambda: alerts.evaluate(engine), 1)
    return old, new


def _history(conn, count: int) -> None:
    """`count` closed alerts over the last 90 days with their opened/closed events (historic)."""
    with conn.cursor() as cur:
        cur.execute(
            """WITH s AS (SELECT sensor_id, row_number() OVER () - 1 AS k, count(*) OVER () AS n FROM sensors),
                    g AS (SELECT i, now() - (i * interval '90 days' / %(n)s) AS t FROM generate_series(1, %(n)s) i)
               INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at, value,
                                   threshold, message)
               SELECT s.sensor_id, 'pm10', 'threshold', 'warning', g.t - interval '10 minutes', g.t, g.t, 60, 50,
                      'history'
                 FROM g JOIN s ON s.k = g.i %% s.n""",
            {"n": count},
        )
        cur.execute(
            """INSERT INTO alert_events (alert_id, sensor_id, metric, at, actor, action, severity, historic)
               SELECT alert_id, sensor_id, metric, opened_at, 'system', 'opened', severity, true FROM alerts
                WHERE message = 'history'
               UNION ALL
               SELECT alert_id, sensor_id, metric, closed_at, 'system', 'closed', severity, true FROM alerts
                WHERE message = 'history'"""
        )
        cur.execute("ANALYZE alerts; ANALYZE alert_events")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of live-rate readings (1 s step)")
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--history", type=int, default=100_000, help="closed alerts in the history case")
    parser.add_argument("--before", metavar="REV", help="also time the engine of this git revision, interleaved")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="madinina-bench-alerts-"))
    server = EmbeddedPostgres(data_dir=work / "pg", port=free_port(), timescaledb=False)
    try:
        dsn = server.start()
        migrate(dsn)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        sync_catalogue(conn)
        end = time.time() - 1
        with Writer(dsn, processor="bench") as writer:
            for chunk in Simulator(seed=42).history(end - args.minutes * 60, end, step_s=1):
                writer.write(chunk, timings=None)
        with conn.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM sensors), (SELECT count(*) FROM sensor_data)")
            sensors, readings = cur.fetchone()
            cur.execute("SELECT now()")
            cur.execute(_CONDITIONS_ONLY, {"now": cur.fetchone()[0], **_params()})
            conditions = cur.fetchone()[0]
        print(f"network: {sensors} sensors, {readings:,} readings over {args.minutes:g} min; "
              f"{conditions} conditions hold now", flush=True)  # fmt: skip

        engine = psycopg2.connect(dsn)

        def conditions_only():
            with engine.cursor() as cur:
                cur.execute("SELECT now()")
                cur.execute(_CONDITIONS_ONLY, {"now": cur.fetchone()[0], **_params()})
                cur.fetchone()
            engine.commit()

        rows = [("conditions only", _times(conditions_only, args.ticks))]
        first = []
        started = time.perf_counter()
        outcome = alerts.evaluate(engine)
        first.append((time.perf_counter() - started) * 1000)
        rows.append((f"first tick ({outcome.opened} opened, {outcome.events} events)", first))
        before = _engine_at(args.before, work) if args.before else None
        for label in ("steady tick", f"steady tick, {args.history:,} closed alerts in history"):
            if label != "steady tick":
                _history(conn, args.history)
            if before is None:
                rows.append((label, _times(lambda: alerts.evaluate(engine), args.ticks)))
            else:
                old, new = _interleaved(before, engine, args.ticks)
                rows += [(f"{label}, engine of {args.before}", old), (label, new)]
        engine.close()
        conn.close()

        base = statistics.median(rows[0][1])
        print("\n| what | ticks | p50 ms | p95 ms | p50 vs conditions only |")
        print("|---|---:|---:|---:|---:|")
        for name, values in rows:
            p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
            p50 = statistics.median(values)
            print(f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {p50 / base:.2f}× |")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
