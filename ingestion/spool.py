"""The consumer's durable local spool (DESIGN §3): messages are appended here BEFORE the broker is acknowledged,
and drained in order into the database when it is reachable.

SQLite (the standard library's, WAL journal, synchronous=FULL): each append is one transaction that is on disk
when `append()` returns, so a consumer SIGKILLed right after acknowledging the broker loses nothing, and a
reader (the `status` command) can look at it from another process while the consumer runs. Entries keep their
arrival order (`seq`, strictly increasing, never reused thanks to AUTOINCREMENT) and are deleted only after the
batch holding them is committed to the database; the database side records (spool_id, last_seq) in the same
transaction as the data (ingest_ledger), so a batch replayed after a crash between commit and delete is
recognised and not applied twice.

Bounded: `max_bytes` caps the payload bytes held (plus a small per-entry overhead). `append()` takes only what
fits and says how much: the consumer acknowledges exactly those, and the broker keeps the rest. A spool that
cannot be written (disk full, read-only directory) raises `SpoolUnwritable`, never loses silently.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# Default network: 60 sensors x 1 message/s x ~0.4 KiB (multi-metric JSON) ~ 85 MiB per hour. 1 GiB holds about
# 12 hours of database outage, far more than the hour the design asks for, and is small for any disk.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
ENTRY_OVERHEAD = 64  # bytes counted per entry on top of its payload (row header, index, received_at, source)
FILE_NAME = "spool.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    source TEXT NOT NULL,
    payload BLOB NOT NULL,
    meta TEXT
);
"""


class SpoolUnwritable(RuntimeError):
    """The spool could not store messages (disk full, read-only, I/O error): they were not acknowledged."""


class SpoolLocked(RuntimeError):
    """Another process owns this spool directory."""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    received_at: float  # epoch seconds, when the consumer received the message from its transport
    source: str
    payload: bytes
    meta: str | None = None  # transport detail the consumer needs after the commit (Kafka: topic/partition/offset)


@dataclass(frozen=True)
class SpoolStats:
    depth: int
    bytes: int
    max_bytes: int
    oldest_received_at: float | None

    @property
    def full_fraction(self) -> float:
        return self.bytes / self.max_bytes if self.max_bytes else 0.0


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class Spool:
    """One spool directory, owned by one process at a time (an exclusive lock file says so). Thread-safe: the
    consumer's intake thread appends while its drain thread reads and deletes."""

    def __init__(self, directory: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        if self.max_bytes <= 0:
            raise ValueError("the spool size must be positive")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.directory / "spool.lock", "a+")  # noqa: SIM115 - held for the spool's life
        except OSError as exc:
            raise SpoolUnwritable(f"cannot use spool directory {self.directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolLocked(f"spool {self.directory} is in use by another consumer") from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()
        self._mutex = threading.Lock()
        try:
            self._conn = _connect(self.directory / FILE_NAME)
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(messages)")}
            if "meta" not in columns:  # a spool written before the column existed: its entries have none
                self._conn.execute("ALTER TABLE messages ADD COLUMN meta TEXT")
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'spool_id'").fetchone()
            if row is None:
                self.spool_id = uuid.uuid4().hex
                self._conn.execute("INSERT INTO meta (key, value) VALUES ('spool_id', ?)", (self.spool_id,))
            else:
                self.spool_id = row[0]
            depth, size = self._conn.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages"
            ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolUnwritable(f"cannot open spool {self.directory / FILE_NAME}: {exc}") from exc
        self._depth = int(depth)
        self._bytes = int(size) + ENTRY_OVERHEAD * self._depth
        self._oldest: float | None = None
        self._oldest_known = False

    # -- intake ------------------------------------------------------------------------------------------------
    def append(self, messages: list[tuple]) -> int:
        """Store (payload, received_at, source[, meta]) tuples in order, as many as fit; returns how many were
        stored (durably, on return). Raises SpoolUnwritable if the disk refuses."""
        with self._mutex:
            room = self.max_bytes - self._bytes
            take, size = 0, 0
            for payload, *_ in messages:
                cost = len(payload) + ENTRY_OVERHEAD
                if size + cost > room:
                    break
                take, size = take + 1, size + cost
            if take == 0 and self._depth == 0 and messages:
                # A message larger than the whole bound is still taken when the spool is empty: otherwise it
                # would block the consumer forever (the validator quarantines it as payload_too_large anyway).
                take, size = 1, len(messages[0][0]) + ENTRY_OVERHEAD
            if take == 0:
                return 0
            rows = [(m[1], m[2], m[0], m[3] if len(m) > 3 else None) for m in messages[:take]]
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT INTO messages (received_at, source, payload, meta) VALUES (?, ?, ?, ?)", rows
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise SpoolUnwritable(f"spool {self.directory / FILE_NAME} refused a write: {exc}") from exc
            self._depth += take
            self._bytes += size
            if self._oldest is None:
                self._oldest_known = False
            return take

    # -- drain -------------------------------------------------------------------------------------------------
    def peek(self, limit: int) -> list[Entry]:
        """The oldest `limit` entries, in arrival order (not removed)."""
        with self._mutex:
            rows = self._conn.execute(
                "SELECT seq, received_at, source, payload, meta FROM messages ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [Entry(seq, at, source, bytes(payload), meta) for seq, at, source, payload, meta in rows]

    def delete_through(self, seq: int) -> None:
        """Forget every entry up to and including `seq` (their batch is committed in the database)."""
        with self._mutex:
            try:
                deleted, size = self._conn.execute(
                    "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages WHERE seq <= ?", (seq,)
                ).fetchone()
                self._conn.execute("DELETE FROM messages WHERE seq <= ?", (seq,))
            except sqlite3.Error as exc:
                # The batch is committed and recorded with its seq range: replaying it later is a no-op.
                raise SpoolUnwritable(f"spool {self.directory / FILE_NAME} refused a delete: {exc}") from exc
            self._depth -= int(deleted)
            self._bytes -= int(size) + ENTRY_OVERHEAD * int(deleted)
            self._oldest_known = False

    def stats(self) -> SpoolStats:
        with self._mutex:
            if not self._oldest_known:
                row = self._conn.execute("SELECT received_at FROM messages ORDER BY seq LIMIT 1").fetchone()
                self._oldest = row[0] if row else None
                self._oldest_known = True
            return SpoolStats(self._depth, self._bytes, self.max_bytes, self._oldest)

    @property
    def depth(self) -> int:
        return self._depth

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
        self._lock_file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_stats(directory: str | Path, *, max_bytes: int | None = None) -> SpoolStats | None:
    """A spool's depth, size and oldest entry, read from another process (read-only; None if there is none)."""
    path = Path(directory) / FILE_NAME
    if not path.exists():
        return None
    deadline = time.monotonic() + 5
    while True:
        try:
            conn = _connect(path, readonly=True)
            try:
                depth, size = conn.execute(
                    "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages"
                ).fetchone()
                row = conn.execute("SELECT received_at FROM messages ORDER BY seq LIMIT 1").fetchone()
            finally:
                conn.close()
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the owner is mid-checkpoint; a reader retries (bounded, not synchronisation)
    return SpoolStats(int(depth), int(size) + ENTRY_OVERHEAD * int(depth), max_bytes or 0, row[0] if row else None)
