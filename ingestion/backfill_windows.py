"""The backfill's in-memory half: a chunk's windows computed with numpy, and PostgreSQL binary COPY payloads.

The writer (ingestion/writer.py) derives windows in SQL from the rows it really inserted, which is right for live
batches that may overlap anything. A backfill chunk whose time range holds nothing yet is different: all its
readings are new, so every window lying inside the chunk is complete and new, and can be computed here from the
generated arrays (one vectorised pass) and inserted without ON CONFLICT. Only the windows that reach outside the
chunk (5-minute sliding windows at its edges, a partial first or last hour) hold readings from elsewhere: they are
marked `internal = False` and merged additively, exactly as the writer merges a batch.

Same definitions as ingestion/writer_sql.py: WINDOWS, windows aligned on the epoch, stddev = sample standard
deviation (NULL for one reading; sent as NaN and turned into NULL in SQL)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ingestion.writer_sql import WINDOWS

MINUTE_NS = 60 * 10**9
STATUSES = ("ok", "warning", "critical", "fault")  # status codes 0..3 of the backfill arrays
PG_EPOCH_US = 946_684_800 * 10**6  # PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC

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
    t_ns: np.ndarray, codes: np.ndarray, values: np.ndarray, status: np.ndarray, n_series: int, a_ns: int, b_ns: int
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


# --- PostgreSQL binary COPY ---------------------------------------------------------------------------------------

_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
_TRAILER = np.array([-1], dtype=">i2").tobytes()
_TYPES = {"timestamptz": ">i8", "int8": ">i8", "int4": ">i4", "int2": ">i2", "float8": ">f8", "bool": "u1"}


def binary_copy(columns: list[tuple[np.ndarray, str]]) -> bytes:
    """A COPY ... (FORMAT binary) payload of fixed-width, non-NULL columns (numpy arrays with their PostgreSQL
    type: timestamptz as int64 ns since the Unix epoch, int8, int4, int2, float8, bool). Built as one numpy
    structured array: no per-row Python, no text formatting or parsing on either side."""
    n = len(columns[0][0])
    fields = [("n", ">i2")]
    for i, (_, pg_type) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _TYPES[pg_type])]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["n"] = len(columns)
    for i, (array, pg_type) in enumerate(columns):
        rows[f"l{i}"] = np.dtype(_TYPES[pg_type]).itemsize
        rows[f"v{i}"] = array // 1000 - PG_EPOCH_US if pg_type == "timestamptz" else array
    return _HEADER + rows.tobytes() + _TRAILER
