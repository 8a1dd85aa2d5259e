"""The backfill's in-memory half: a chunk's windows computed with numpy, and PostgreSQL binary COPY payloads
(encoded from Arrow by pgpq).

The writer (ingestion/writer.py) derives windows in SQL from the rows it really inserted, which is right for live
batches that may overlap anything. A backfill chunk whose time range holds nothing yet is different: all its
readings are new, so every window lying inside the chunk is complete and new, and can be computed here from the
generated arrays (one vectorised pass) and inserted without ON CONFLICT. Only the windows that reach outside the
chunk (5-minute sliding windows at its edges, a partial first or last hour) hold readings from elsewhere: they are
marked `internal = False` and merged additively, exactly as the writer merges a batch.

The chunk's share of each 6-hour window of the rollup (sensor_data_agg_6h) is computed here too, from the same
readings; it is always merged.

Same definitions as ingestion/writer_sql.py: WINDOWS, windows aligned on the epoch, 6-hour windows on
AGG_6H_ORIGIN, stddev = sample standard deviation (NULL for one reading: NaN here, sent as NULL)."""

from __future__ import annotations

import numpy as np
import pgpq
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from ingestion.writer_sql import AGG_6H_ORIGIN, WINDOWS

MINUTE_NS = 60 * 10**9
ROLLUP_NS = 6 * 3600 * 10**9  # sensor_data_agg_6h (migration 0013)
# Its bins' origin, from the writer's SQL literal (timestamptz '2000-01-01 04:00:00+00': a Martinique midnight)
ROLLUP_ORIGIN_NS = int(np.datetime64(AGG_6H_ORIGIN.split("'")[1].removesuffix("+00"), "ns").astype(np.int64))
STATUSES = ("ok", "warning", "critical", "fault")  # status codes 0..3 of the backfill arrays

assert WINDOWS == ((60, 60), (300, 60), (3600, 3600)), "backfill_windows computes exactly these windows"


def status_codes(codes: np.ndarray, values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per reading 0 ok / 1 warning / 2 critical from its series' (warn_low, warn_high, crit_low, crit_high)
    (rows of `thresholds`, NaN = none): Metric.status_of, vectorised. Critical wins over warning."""
    t = thresholds[codes]
    with np.errstate(invalid="ignore"):
        warn = (values < t[:, 0]) | (values > t[:, 1])
        crit = (values < t[:, 2]) | (values > t[:, 3])
    return np.where(crit, 2, np.where(warn, 1, 0)).astype(np.int16)


def _cells(key: np.ndarray, size: int, values: np.ndarray, status: np.ndarray):
    """Per cell (flat index `key` < size): count, sum, sum of squares, min, max, n_warning, n_critical, n_fault."""
    n = np.bincount(key, minlength=size)
    s = np.bincount(key, weights=values, minlength=size)
    ss = np.bincount(key, weights=values * values, minlength=size)
    lo = np.full(size, np.inf)
    hi = np.full(size, -np.inf)
    np.minimum.at(lo, key, values)
    np.maximum.at(hi, key, values)
    counts = [np.bincount(key, weights=(status == c), minlength=size).astype(np.int64) for c in (1, 2, 3)]
    return [n, s, ss, lo, hi, *counts]


def _rows(cells, keep: np.ndarray, start_ns: np.ndarray, size_ns: int, code: np.ndarray, a_ns: int, b_ns: int):
    n, s, ss, lo, hi, nw, nc, nf = (c[keep] for c in cells)
    start = start_ns[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        stddev = np.where(n > 1, np.sqrt(np.maximum(0.0, (ss - s * s / n) / (n - 1))), np.nan)
    return {
        "window_start": start,
        "window_end": start + size_ns,
        "code": code[keep],
        "avg": s / n,
        "min": lo,
        "max": hi,
        "count": n.astype(np.int64),
        "stddev": stddev,
        "n_warning": nw,
        "n_critical": nc,
        "n_fault": nf,
        "sum_value": s,
        "sum_sq": ss,
        "internal": (start >= a_ns) & (start + size_ns <= b_ns),
    }


def chunk_windows(
    t_ns: np.ndarray,
    codes: np.ndarray,
    values: np.ndarray,
    status: np.ndarray,
    n_series: int,
    a_ns: int,
    b_ns: int,
) -> dict[str, np.ndarray]:
    """Every window of WINDOWS holding at least one of the readings (all inside [a_ns, b_ns)), as columns; a
    window lying entirely inside [a_ns, b_ns) has internal = True (complete: the chunk holds all its readings)."""
    if len(t_ns) == 0:
        return {}
    m0 = (a_ns // MINUTE_NS) * MINUTE_NS
    n_min = int(-(-(b_ns - m0) // MINUTE_NS))
    minute = (t_ns - m0) // MINUTE_NS
    cells = _cells(codes.astype(np.int64) * n_min + minute, n_series * n_min, values, status)
    grid = [c.reshape(n_series, n_min) for c in cells]
    series = np.repeat(np.arange(n_series, dtype=np.int32), n_min)
    minute_start = np.tile(m0 + MINUTE_NS * np.arange(n_min, dtype=np.int64), n_series)
    parts = [_rows(cells, cells[0] > 0, minute_start, MINUTE_NS, series, a_ns, b_ns)]

    # 5-minute windows sliding every minute: window w covers minutes w..w+4, for w = -4 .. n_min-1.
    pad = 4
    fills = (0, 0.0, 0.0, np.inf, -np.inf, 0, 0, 0)
    slid = []
    for g, fill, how in zip(grid, fills, ("sum", "sum", "sum", "min", "max", "sum", "sum", "sum"), strict=True):
        padded = np.full((n_series, n_min + 2 * pad), fill, dtype=g.dtype)
        padded[:, pad : pad + n_min] = g
        view = sliding_window_view(padded, 5, axis=1)
        slid.append(getattr(view, how)(axis=-1).reshape(-1))
    n_win = n_min + pad
    series5 = np.repeat(np.arange(n_series, dtype=np.int32), n_win)
    start5 = np.tile(m0 + MINUTE_NS * np.arange(-pad, n_min, dtype=np.int64), n_series)
    parts.append(_rows(slid, slid[0] > 0, start5, 5 * MINUTE_NS, series5, a_ns, b_ns))

    # 1-hour tumbling windows, from the readings (the chunk need not be hour-aligned).
    hour_ns = 60 * MINUTE_NS
    h0 = (a_ns // hour_ns) * hour_ns
    n_hours = int(-(-(b_ns - h0) // hour_ns))
    hour_cells = _cells(codes.astype(np.int64) * n_hours + (t_ns - h0) // hour_ns, n_series * n_hours, values, status)
    series_h = np.repeat(np.arange(n_series, dtype=np.int32), n_hours)
    start_h = np.tile(h0 + hour_ns * np.arange(n_hours, dtype=np.int64), n_series)
    parts.append(_rows(hour_cells, hour_cells[0] > 0, start_h, hour_ns, series_h, a_ns, b_ns))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def rollup_6h(
    t_ns: np.ndarray, codes: np.ndarray, values: np.ndarray, status: np.ndarray, n_series: int
) -> dict[str, np.ndarray]:
    """The readings' share of each 6-hour window of sensor_data_agg_6h they fall in, as columns (those of
    chunk_windows; `internal` means nothing here: every one is merged)."""
    if len(t_ns) == 0:
        return {}
    b0 = (int(t_ns.min()) - ROLLUP_ORIGIN_NS) // ROLLUP_NS * ROLLUP_NS + ROLLUP_ORIGIN_NS
    n_bins = int((int(t_ns.max()) - b0) // ROLLUP_NS) + 1
    cells = _cells(codes.astype(np.int64) * n_bins + (t_ns - b0) // ROLLUP_NS, n_series * n_bins, values, status)
    series = np.repeat(np.arange(n_series, dtype=np.int32), n_bins)
    start = np.tile(b0 + ROLLUP_NS * np.arange(n_bins, dtype=np.int64), n_series)
    return _rows(cells, cells[0] > 0, start, ROLLUP_NS, series, b0, b0)


# --- PostgreSQL binary COPY ---------------------------------------------------------------------------------------


def copy_payload(columns: dict[str, pa.Array | np.ndarray]) -> bytes:
    """A COPY ... (FORMAT binary) payload of these columns, in this order, encoded by pgpq (Rust, from Arrow): no
    per-row Python, no text formatting or parsing on either side. Timestamps as Arrow timestamps (µs, UTC); a
    float column given as an Arrow array with nulls sends NULL."""
    table = pa.table(columns)
    encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
    return b"".join([encoder.write_header(), *map(encoder.write_batch, table.to_batches()), encoder.finish()])


def timestamps(t_ns: np.ndarray) -> pa.Array:
    """Epoch nanoseconds as an Arrow timestamp column (µs, UTC: PostgreSQL's resolution; the grid is whole µs)."""
    return pa.array(np.asarray(t_ns, dtype=np.int64) // 1000, type=pa.timestamp("us", tz="UTC"))
