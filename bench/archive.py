"""Archive throughput for the default network's 7-day history (DESIGN §8), next to a raw COPY TO of the same rows.

  COPY TO      `COPY (SELECT * FROM sensor_data) TO STDOUT (csv)` read by Python: the ceiling of getting the rows out
  source read  the archive's own read (COPY of the day's rows with the catalogue join, into Arrow), alone
  InfluxDB     InfluxArchiver, raw readings then windows, to a real InfluxDB-protocol store (VictoriaMetrics,
               Debian package) with influxdb-client's batching write API
  Delta        LakeArchiver: raw readings -> bronze + silver, windows -> gold (deltalake, local disk)

Usage: .venv/bin/python -m bench.archive [--days 7] [--step 60]
Starts its own throw-away PostgreSQL (the project's embedded server code, a temporary directory, a free port) and
VictoriaMetrics; the history is written through the real Writer first (not timed here: see bench/ingest.py).
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import tempfile
import time
from pathlib import Path

import psycopg2

from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from ingestion.archive.influx import InfluxArchiver, InfluxConfig
from ingestion.archive.lake import PLAN, LakeArchiver, LakeConfig
from ingestion.archive.source import RAW, WINDOWS, Source
from ingestion.registry import sync_catalogue
from ingestion.simulator import Simulator
from ingestion.writer import Batch, Writer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Counter(io.RawIOBase):
    """A write-only sink that counts bytes (COPY TO without keeping the data)."""

    def __init__(self):
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.bytes += len(b)
        return len(b)


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--step", type=float, default=60.0, help="seconds between readings (the backfill's 60)")
    args = parser.parse_args(argv)

    from tests.support.victoria import victoria

    work = Path(tempfile.mkdtemp(prefix="madinina-bench-archive-"))
    server = EmbeddedPostgres(data_dir=work / "pg", port=_free_port())
    try:
        dsn = server.start()
        migrate(dsn)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        sync_catalogue(conn)
        end = time.time() - 300
        with Writer(dsn, processor="bench") as writer:
            for chunk in Simulator(seed=42).history(end - args.days * 86400, end, step_s=args.step):
                writer.commit(Batch(chunk, [], len(chunk), "bench"))
        with conn.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM sensor_data), (SELECT count(*) FROM sensor_data_agg)")
            raw_rows, window_rows = cur.fetchone()
        print(f"history: {args.days:g} days, {raw_rows:,} readings, {window_rows:,} windows", flush=True)

        def copy_to(sql: str) -> int:
            sink = _Counter()
            with conn.cursor() as cur:
                cur.copy_expert(sql, sink)
            return sink.bytes

        results = []
        # COPY (SELECT ...): on a TimescaleDB hypertable `COPY table TO` reads only the (empty) parent table.
        _, s = timed(lambda: copy_to("COPY (SELECT * FROM sensor_data) TO STDOUT WITH (FORMAT csv)"))
        results.append(("COPY sensor_data TO STDOUT (csv)", raw_rows, s))
        _, s = timed(lambda: copy_to("COPY (SELECT * FROM sensor_data_agg) TO STDOUT WITH (FORMAT csv)"))
        results.append(("COPY sensor_data_agg TO STDOUT (csv)", window_rows, s))

        source = Source(dsn, lag_s=0)
        rng = source.plan(RAW, None)
        _, s = timed(lambda: sum(t.num_rows for _, t in source.batches(RAW, rng)))
        results.append(("archive source read, raw (COPY + join -> Arrow)", raw_rows, s))

        with victoria(work) as vm:
            influx = InfluxArchiver(source, InfluxConfig(url=vm.url, token="bench"), progress=lambda _: None)
            done, s = timed(lambda: influx.run((RAW,)))
            results.append(("InfluxDB protocol, raw readings", done["raw"], s))
            done, s = timed(lambda: influx.run((WINDOWS,)))
            results.append(("InfluxDB protocol, windows", done["windows"], s))

        lake = LakeArchiver(source, LakeConfig(root=work / "lake"), progress=lambda _: None)
        done, s = timed(lambda: lake.run(tuple(p for p in PLAN if p[0] is RAW)))
        results.append(("Delta, raw readings -> bronze + silver", done["silver"], s))
        done, s = timed(lambda: lake.run(tuple(p for p in PLAN if p[0] is WINDOWS)))
        results.append(("Delta, windows -> gold", done["gold"], s))
        source.close()
        conn.close()

        # Each archive figure next to the COPY TO of its own table (raw readings or windows).
        copy_rate = {"raw": results[0][1] / results[0][2], "windows": results[1][1] / results[1][2]}
        print("\n| what | rows | seconds | rows/s | vs COPY TO of the same table |")
        print("|---|---:|---:|---:|---:|")
        for name, rows, seconds in results:
            rate = rows / seconds
            base = copy_rate["windows" if "window" in name or "agg" in name else "raw"]
            print(f"| {name} | {rows:,} | {seconds:.1f} | {rate:,.0f} | {rate / base:.2f}× |")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
