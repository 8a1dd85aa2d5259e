"""The backfill's plan (which chunks, in which order) and its small helpers: ledger rows, times, priority.
See ingestion/backfill.py."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2

NICENESS = 10  # the backfill's processes, against 0 for the live ingestion and the dashboard
HOUR_S = 3600
CHUNK_SIZES_S = (86400, 43200, 6 * 3600, 3 * 3600, 2 * 3600, 3600, 1800, 900, 600, 300, 60)  # on the epoch grid
MAX_CHUNK_ROWS = 600_000  # per transaction: ~150 MB of work memory at most, a few seconds of locks at most
LAST_HOUR_CHUNK_S = 900  # the newest chunks share windows with the live writer: short transactions there
PHASES = (("last_hour", HOUR_S), ("last_24h", 24 * HOUR_S), ("older", math.inf))


@dataclass(frozen=True)
class Chunk:
    start: float  # epoch seconds, [start, end)
    end: float
    phase: str


def plan(end: float, span_s: float, step_s: float, rows_per_instant: int) -> list[Chunk]:
    """The chunks of a backfill of `span_s` seconds up to `end`, newest first. The start is rounded down to the
    hour (the first hour window is complete); phase boundaries to the minute; chunk boundaries are multiples of
    the chunk size (the largest of CHUNK_SIZES_S holding at most MAX_CHUNK_ROWS readings)."""
    start = math.floor((end - span_s) / HOUR_S) * HOUR_S
    size = next((s for s in CHUNK_SIZES_S if s / step_s * rows_per_instant <= MAX_CHUNK_ROWS), CHUNK_SIZES_S[-1])
    chunks: list[Chunk] = []
    hi = end
    for phase, back_s in PHASES:
        step = min(size, LAST_HOUR_CHUNK_S) if phase == "last_hour" else size
        lo = max(start, math.floor((end - back_s) / 60) * 60) if math.isfinite(back_s) else start
        cuts = [hi]
        cut = math.ceil(hi / step) * step - step
        while cut > lo:
            cuts.append(cut)
            cut -= step
        cuts.append(lo)
        chunks += [Chunk(a, b, phase) for b, a in zip(cuts, cuts[1:], strict=False) if b > a]
        hi = lo
        if hi <= start:
            break
    return chunks


def ledger_row(batch_id: str, received: int, stored: int) -> dict:
    return {
        "batch_id": batch_id,
        "processor": "backfill",
        "source": "backfill",
        "spool_id": None,
        "first_seq": None,
        "last_seq": None,
        "received": received,
        "stored": stored,
        "duplicates": received - stored,
        "quarantined": 0,
        "quarantine_duplicates": 0,
        "by_reason": "{}",
    }


def lower_backend_priority(conn) -> None:
    """Best effort: the same niceness for this connection's database backend when the server runs on this machine
    (the embedded default) and we may renice it (root, or the server's own user); elsewhere nothing changes. The
    backfill's backends would otherwise take both cores from the live writer's and the dashboard's."""
    host = conn.info.host or ""
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        conn.rollback()
        os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), NICENESS))
    except (OSError, psycopg2.Error):
        pass


def lower_priority() -> None:
    """The backfill yields the CPU to the live ingestion (same machine, 2 cores): a niceness of 10 for this
    process (its database backends: lower_backend_priority). The live writer never waits on its locks either."""
    try:
        os.nice(NICENESS)
    except OSError:
        pass


def ts_ns(t_ns) -> datetime:
    seconds, ns = divmod(int(t_ns), 10**9)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=ns // 1000)


def ts_s(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def local_text(t: float) -> str:
    return datetime.fromtimestamp(t - 4 * 3600, UTC).strftime("%d/%m %H:%M") + " (Martinique)"
