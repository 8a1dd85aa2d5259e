"""What the backfill's fast path sends for a chunk, built in a worker thread (numpy and the encoders release the GIL
for most of it, so this overlaps the other worker's database time): the chunk's simulated readings as arrays, their
statuses, and the binary COPY payloads of the readings, of the windows computed in memory
(ingestion/backfill_windows.py) and of the chunk's share of the 6-hour rollup. No database here: ingestion/backfill.py
writes what this prepares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ingestion.backfill_plan import Chunk
from ingestion.backfill_windows import STATUSES, chunk_windows, copy_payload, rollup_6h, status_codes, timestamps
from ingestion.simulator import Simulator

RAW_SLICE_NS = 6 * 3600 * 10**9  # migration 0009: the raw hypertable's chunk interval


@dataclass
class Prepared:
    """A chunk's readings as arrays, and what the fast path sends (built in a worker thread)."""

    chunk: Chunk
    t_ns: np.ndarray
    codes: np.ndarray
    values: np.ndarray
    status: np.ndarray
    readings_copy: bytes
    windows_copy: bytes  # the windows lying inside the chunk: new rows
    edges_copy: bytes  # the windows reaching outside it: merged
    rollup_copy: bytes  # its share of the 6-hour windows (sensor_data_agg_6h): merged


class ChunkEncoder:
    """Prepares the chunks of one backfill (its simulator and step): arrays, then the COPY payloads in key order."""

    def __init__(self, sim: Simulator, step_s: float):
        self.sim = sim
        self.step_s = step_s
        self.pk_rank = np.empty(len(sim.series), dtype=np.int64)  # a code's place in (sensor_id, metric) order
        self.pk_rank[sorted(range(len(sim.series)), key=sim.series.__getitem__)] = np.arange(len(sim.series))
        self._sensor_ids = pa.array([s for s, _ in sim.series], type=pa.string())
        self._metrics = pa.array([m for _, m in sim.series], type=pa.string())

    def prepare(self, chunk: Chunk, thresholds: np.ndarray, encode: bool = True) -> Prepared:
        pieces = list(self.sim.history_arrays(chunk.start, chunk.end, self.step_s, max_rows=None))
        t_ns, codes, values = (np.concatenate(p) for p in zip(*pieces, strict=True)) if pieces else ([], [], [])
        t_ns, codes, values = np.asarray(t_ns, np.int64), np.asarray(codes, np.int32), np.asarray(values, float)
        status = status_codes(codes, values, thresholds)
        if not encode:  # for the merging path: the arrays only
            return Prepared(chunk, t_ns, codes, values, status, b"", b"", b"", b"")
        a_ns, b_ns = int(round(chunk.start * 1e9)), int(round(chunk.end * 1e9))
        w = chunk_windows(t_ns, codes, values, status, len(self.sim.series), a_ns, b_ns)
        # Rows in primary-key order (consecutive inserts land on the same index pages: measured, readings -25 %,
        # windows -20 % of the INSERT time against the generator's order) within each 6-hour slice, the raw chunk
        # of the TimescaleDB branch: COPY fills one chunk after the other instead of switching at every series.
        o = np.lexsort((t_ns, self.pk_rank[codes], t_ns // RAW_SLICE_NS))
        readings = copy_payload(
            {
                "time": timestamps(t_ns[o]),
                **self._keys(codes[o]),
                "value": values[o],
                "status": pa.array(np.array(STATUSES, dtype=object)[status[o]], type=pa.string()),
            }
        )
        inside = edges = rollup = b""
        if w:
            o = np.lexsort((w["window_end"], w["window_start"], self.pk_rank[w["code"]]))
            internal = w["internal"][o]
            inside, edges = (self.windows_payload(w, o[internal == part]) for part in (True, False))
            r = rollup_6h(t_ns, codes, values, status, len(self.sim.series))
            rollup = self.windows_payload(r, np.lexsort((r["window_start"], self.pk_rank[r["code"]])))
        return Prepared(chunk, t_ns, codes, values, status, readings, inside, edges, rollup)

    def _keys(self, codes: np.ndarray) -> dict[str, pa.Array]:
        index = pa.array(codes, type=pa.int32())
        return {"sensor_id": self._sensor_ids.take(index), "metric": self._metrics.take(index)}

    def windows_payload(self, w: dict[str, np.ndarray], rows: np.ndarray) -> bytes:
        if not len(rows):
            return b""
        pick = {name: column[rows] for name, column in w.items()}
        return copy_payload(
            {
                "window_start": timestamps(pick["window_start"]),
                "window_end": timestamps(pick["window_end"]),
                **self._keys(pick["code"]),
                **{c: pick[c] for c in ("avg", "min", "max", "count")},
                "stddev": pa.array(pick["stddev"], type=pa.float64(), from_pandas=True),  # NaN (one reading) -> NULL
                **{c: pick[c].astype(np.int32) for c in ("n_warning", "n_critical", "n_fault")},
                **{c: pick[c] for c in ("sum_value", "sum_sq")},
            }
        )
