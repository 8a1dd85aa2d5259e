"""The measured basis for a contract question (DESIGN §6: "if a contract column type stands in the way, propose the
change with the measurement"): what the keys and indexes of sensor_data_agg cost the backfill's COPY of its windows.

One day of the default network's windows (the backfill's own: ingestion.backfill_encode at a 60 s step, ~670k rows)
is COPYed (binary, one transaction, committed) into an empty copy of the table in each variant, on both branches
(a hypertable on window_start, 7-day chunks, on TimescaleDB, as migrations 0002 and 0015 make it):

  0013     text keys: primary key + 0005's series index + (metric, window_start)     (before migration 0014)
  0014     text keys: primary key + 0005's series index + BRIN (window_start)        (migrations 0014 to 0015)
  today    text keys: primary key + 0015's partial index on the 1-hour windows + BRIN (window_start)
  no-brin  text keys: primary key + 0015's partial index (today without the BRIN)
  pk-only  text keys: primary key only
  compact  an integer series_id referencing series (sensor_id, metric): primary key (series_id, window_start,
           window_end) + the series index (series_id, window_end - window_start, window_start) + the BRIN
  compact-nofk  the same without the foreign key (its per-row check is most of compact's cost: measured)

Printed per branch and variant: rows/s (best of --rounds, the variants' order rotated each round), the ratio to
`today` and the 7-day backfill's windows COPY projected at that rate (7 x the day). Nothing in the product changes.
Usage: .venv/bin/python -m bench.agg_keys [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import psycopg2
import pyarrow as pa

from bench import load_average
from bench.branches import branch_servers, url_for
from bench.ingest import drop_db, fresh_db
from ingestion.backfill_encode import ChunkEncoder
from ingestion.backfill_plan import Chunk
from ingestion.backfill_windows import chunk_windows, copy_payload, timestamps
from ingestion.catalogue import METRICS
from ingestion.simulator import Simulator

_VALUES = """avg double precision NOT NULL, min double precision NOT NULL, max double precision NOT NULL,
    count bigint NOT NULL, stddev double precision, n_warning integer NOT NULL, n_critical integer NOT NULL,
    n_fault integer NOT NULL, sum_value double precision NOT NULL, sum_sq double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()"""
_TIMES = "window_start timestamptz NOT NULL, window_end timestamptz NOT NULL"
_TEXT = f"{_TIMES}, sensor_id text NOT NULL, metric text NOT NULL, {_VALUES}"
_COMPACT = f"{_TIMES}, series_id integer NOT NULL REFERENCES series, {_VALUES}"
_COMPACT_NO_FK = f"{_TIMES}, series_id integer NOT NULL, {_VALUES}"
_TEXT_PK = "PRIMARY KEY (sensor_id, metric, window_start, window_end)"
_HOURLY = "(sensor_id, metric, window_start) WHERE window_end - window_start = interval '1 hour'"
VARIANTS = {
    "0013": (_TEXT, _TEXT_PK, ["(sensor_id, metric, (window_end - window_start), window_start)", "(metric, window_start)"]),
    "0014": (_TEXT, _TEXT_PK, ["(sensor_id, metric, (window_end - window_start), window_start)", "USING brin (window_start)"]),
    "today": (_TEXT, _TEXT_PK, [_HOURLY, "USING brin (window_start)"]),
    "no-brin": (_TEXT, _TEXT_PK, [_HOURLY]),
    "pk-only": (_TEXT, _TEXT_PK, []),
    "compact": (_COMPACT, "PRIMARY KEY (series_id, window_start, window_end)",
                ["(series_id, (window_end - window_start), window_start)", "USING brin (window_start)"]),
    "compact-nofk": (_COMPACT_NO_FK, "PRIMARY KEY (series_id, window_start, window_end)",
                     ["(series_id, (window_end - window_start), window_start)", "USING brin (window_start)"]),
}  # fmt: skip
_VALUE_COLUMNS = ("avg", "min", "max", "count", "stddev", "n_warning", "n_critical", "n_fault", "sum_value", "sum_sq")


def one_day_windows() -> tuple[dict[str, np.ndarray], ChunkEncoder, Simulator]:
    """The windows lying inside one day chunk of a backfill at 60 s (those the fast path COPYs straight in)."""
    sim = Simulator(seed=42)
    end = float(int(time.time()) // 86400 * 86400)
    chunk = Chunk(end - 86400, end, "bench")
    thresholds = np.array(
        [[np.nan if v is None else v for v in (METRICS[m].warn_low, METRICS[m].warn_high, METRICS[m].crit_low,
                                               METRICS[m].crit_high)] for _, m in sim.series], dtype=float
    )  # fmt: skip
    encoder = ChunkEncoder(sim, 60.0)
    p = encoder.prepare(chunk, thresholds, encode=False)
    w = chunk_windows(p.t_ns, p.codes, p.values, p.status, len(sim.series), int(chunk.start * 1e9), int(end * 1e9))
    inside = np.flatnonzero(w["internal"])
    return {k: v[inside] for k, v in w.items()}, encoder, sim


def payloads(w: dict[str, np.ndarray], encoder: ChunkEncoder) -> dict[str, bytes]:
    """Text keys as the backfill sends them; compact keys as series_id = the series' rank in (sensor_id, metric)
    order + 1, so both payloads are in their primary key's order."""
    rank = encoder.pk_rank
    o = np.lexsort((w["window_end"], w["window_start"], rank[w["code"]]))
    text = encoder.windows_payload(w, o)
    values = {c: w[c][o] for c in _VALUE_COLUMNS}
    values["stddev"] = pa.array(values["stddev"], type=pa.float64(), from_pandas=True)  # NaN -> NULL, as the backfill
    for c in ("n_warning", "n_critical", "n_fault"):
        values[c] = values[c].astype(np.int32)
    compact = copy_payload(
        {
            "window_start": timestamps(w["window_start"][o]),
            "window_end": timestamps(w["window_end"][o]),
            "series_id": (rank[w["code"][o]] + 1).astype(np.int32),
            **values,
        }
    )
    return {"text": text, "compact": compact}


def create(cur, name: str, variant: str, timescaledb: bool) -> None:
    columns, pk, indexes = VARIANTS[variant]
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} ({columns}, {pk})")
    for i, index in enumerate(indexes):
        cur.execute(f"CREATE INDEX {name}_{i} ON {name} {index}")
    if timescaledb:
        cur.execute(  # the migrations' indexes only (0015: no default window_start btree)
            f"SELECT create_hypertable('{name}', 'window_start', chunk_time_interval => interval '7 days',"
            " create_default_indexes => false)"
        )


def copy_seconds(url: str, variant: str, payload: bytes, timescaledb: bool) -> float:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            create(cur, f"agg_{variant.replace('-', '_')}", variant, timescaledb)
        conn.commit()
        columns = "window_start, window_end, " + ("series_id" if variant.startswith("compact") else "sensor_id, metric")
        sql = (
            f"COPY agg_{variant.replace('-', '_')} ({columns}, {', '.join(_VALUE_COLUMNS)}) FROM STDIN (FORMAT binary)"
        )
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.copy_expert(sql, io.BytesIO(payload))
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at the start: {load_average()}", flush=True)
    w, encoder, sim = one_day_windows()
    data = payloads(w, encoder)
    rows = len(w["code"])
    print(f"one day of windows: {rows:,} rows; payload text keys {len(data['text']):,} B, compact "
          f"{len(data['compact']):,} B", flush=True)  # fmt: skip
    series = sorted(sim.series)
    results = {}
    with branch_servers() as servers:
        for branch, admin in servers.items():
            db = fresh_db(admin)
            try:
                url = url_for(admin, db)
                conn = psycopg2.connect(url)
                with conn.cursor() as cur:
                    cur.execute("CREATE TABLE series (series_id integer PRIMARY KEY, sensor_id text NOT NULL,"
                                " metric text NOT NULL, UNIQUE (sensor_id, metric))")  # fmt: skip
                    cur.executemany("INSERT INTO series VALUES (%s, %s, %s)",
                                    [(i + 1, s, m) for i, (s, m) in enumerate(series)])  # fmt: skip
                conn.commit()
                conn.close()
                best = {}
                names = list(VARIANTS)
                for r in range(args.rounds):
                    for variant in names[r % len(names) :] + names[: r % len(names)]:
                        payload = data["compact" if variant.startswith("compact") else "text"]
                        s = copy_seconds(url, variant, payload, branch == "timescaledb")
                        best[variant] = min(s, best.get(variant, s))
                        print(f"{branch:12s} round {r + 1} {variant:12s} {s:6.2f} s", flush=True)
                results[branch] = best
            finally:
                drop_db(admin, db)
    print()
    for branch, best in results.items():
        print(f"{branch}: variant, rows/s, ratio to today, 7-day windows COPY projected")
        for variant, s in best.items():
            print(f"  {variant:12s} {rows / s:>10,.0f} rows/s  {best['today'] / s:5.2f}x  {7 * s:6.1f} s")
    print(f"load average at the end: {load_average()}", flush=True)


if __name__ == "__main__":
    main()
