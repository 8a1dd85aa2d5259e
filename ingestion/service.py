"""Every consumer's core (DESIGN §3, "nothing stops, nothing is lost"): transport -> durable spool -> processor ->
database.

- `offer()` (the transport's thread) appends messages to the spool and returns how many are now durable: the
  transport acknowledges exactly those (MQTT PUBACK, later Kafka offsets) and keeps the rest for later, so a full
  or unwritable spool means "the broker keeps them", never a loss.
- A drain thread takes the oldest entries in order, validates them with the catalogue the database has now, and
  commits each batch in one transaction with its ledger row; the Writer retries a lost database forever (backoff
  with jitter). Only after the commit are the entries deleted from the spool; a crash in between replays the batch,
  which the ledger recognises (spool_id, last_seq).
- A batch the database refuses for what it contains (not for being away) is split until the offending message is
  found, which is quarantined with reason `write_failed`: one bad message never blocks the others.
- One log line per state change: database unavailable / back (Writer), spool full / accepting again, spool
  unwritable / writable again, and the spool depth at each power of ten while it grows. A heartbeat row in
  `ingest_status` (and `status.json` beside the spool, readable while the database is down) says where it stands.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from ingestion.processor import LiteProcessor
from ingestion.readings import Rejection
from ingestion.registry import CatalogueWatcher
from ingestion.spool import Entry, Spool, SpoolUnwritable
from ingestion.writer import TRANSIENT_ERRORS, Batch

log = logging.getLogger("ingestion.service")

# Non-transient refusals of a batch by the database, caused by its content: isolate the message, quarantine it.
_CONTENT_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError)

_STATUS_UPSERT = """
INSERT INTO ingest_status (consumer, updated_at, host, pid, state, spool_depth, spool_bytes, spool_max_bytes,
                           oldest_unsent_at, last_commit_at, last_error)
VALUES (%(consumer)s, now(), %(host)s, %(pid)s, %(state)s, %(depth)s, %(bytes)s, %(max_bytes)s, %(oldest)s,
        %(last_commit)s, %(error)s)
ON CONFLICT (consumer) DO UPDATE SET updated_at = now(), host = excluded.host, pid = excluded.pid,
    state = excluded.state, spool_depth = excluded.spool_depth, spool_bytes = excluded.spool_bytes,
    spool_max_bytes = excluded.spool_max_bytes, oldest_unsent_at = excluded.oldest_unsent_at,
    last_commit_at = excluded.last_commit_at, last_error = excluded.last_error
"""


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


class SpooledIngest:
    def __init__(
        self,
        spool: Spool,
        processor: LiteProcessor,
        *,
        name: str,
        catalogue: CatalogueWatcher | None,
        stop: threading.Event,
        heartbeat_s: float = 5.0,
        setup=None,
        on_commit: Callable[[list[Entry]], None] | None = None,
    ):
        self.spool = spool
        self.processor = processor
        self.name = name
        self.catalogue = catalogue
        self.stop = stop
        self.heartbeat_s = heartbeat_s
        # Called on the drain thread after each database commit with the entries it holds (the Kafka consumer
        # commits their offsets then, never before). It must not raise; it must not block for long.
        self.on_commit = on_commit
        self._wakeup = threading.Event()
        self._full = False
        self._unwritable = ""
        self._next_depth_log = 1000
        self._last_commit: float | None = None
        self._last_heartbeat = float("-inf")
        self._status_conn = None
        self._drain_error = ""
        self._thread: threading.Thread | None = None
        self._setup = setup  # run by the drain thread before its first batch (e.g. the catalogue sync at start)
        # Highest spool seq known to be committed (None = ask the ledger): entries up to it were committed before
        # a crash or a refused delete, and are only forgotten, never committed (nor counted) again.
        self._committed_through: int | None = None
        self._delete_error = ""

    # -- intake (the transport's thread) --------------------------------------------------------------------
    def offer(self, messages: list[tuple]) -> int:
        """Append (payload, received_at, source[, meta]) in order; returns how many are durable now (acknowledge those)."""
        if not messages:
            return 0
        try:
            accepted = self.spool.append(messages)
        except SpoolUnwritable as exc:
            if not self._unwritable:
                log.error("%s: spool unwritable (%s): not acknowledging, the broker keeps the messages", self.name, exc)
            self._unwritable = str(exc)
            self._write_status_file()
            return 0
        if self._unwritable:
            log.warning("%s: spool writable again", self.name)
            self._unwritable = ""
        if accepted < len(messages) and not self._full:
            stats = self.spool.stats()
            log.warning(
                "%s: spool full (%s messages, %.1f of %.1f MiB): not acknowledging, the broker keeps the rest",
                self.name, f"{stats.depth:,}", stats.bytes / 2**20, stats.max_bytes / 2**20,
            )  # fmt: skip
            self._full = True
        elif accepted == len(messages) and self._full:
            log.warning("%s: spool accepting again (%s messages waiting)", self.name, f"{self.spool.depth:,}")
            self._full = False
        if self.spool.depth >= self._next_depth_log:
            log.warning("%s: spool depth %s messages", self.name, f"{self.spool.depth:,}")
            self._next_depth_log *= 10
        if accepted:
            self._wakeup.set()
        return accepted

    # -- drain (own thread) -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._drain_loop, name=f"{self.name}-drain", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def finish(self, timeout_s: float = 10.0) -> None:
        """After a stop was requested and the drain thread joined: commit what the spool still holds while the
        database answers (up to timeout_s); whatever remains stays in the spool for the next start."""
        deadline = time.monotonic() + timeout_s
        try:
            while self.spool.depth and time.monotonic() < deadline and self.drain_once():
                pass
        except TRANSIENT_ERRORS:
            pass
        left = self.spool.depth
        if left:
            log.warning("%s: %s messages stay in the spool for the next start", self.name, f"{left:,}")
        self._heartbeat(force=True, state="stopped")
        self._close_status()

    def _drain_loop(self) -> None:
        if self._setup is not None:
            try:
                self._setup()  # waits for the database itself; the intake keeps spooling meanwhile
            except TRANSIENT_ERRORS:
                return  # stopping
        while not self.stop.is_set():
            try:
                if not self.drain_once():
                    self._heartbeat()
                    self._wakeup.wait(0.5)
                    self._wakeup.clear()
            except TRANSIENT_ERRORS:
                pass  # only raised when stopping (the writer retries forever otherwise)
            except Exception as exc:  # a bug must not kill the drain: log it, back off, try again; nothing is lost
                error = f"{type(exc).__name__}: {exc}"
                if error != self._drain_error:  # one traceback per distinct failure, not one every 5 s
                    log.exception("%s: drain failed; retrying every 5 s (the spool keeps every message)", self.name)
                self._drain_error = error
                self.stop.wait(5.0)

    def drain_once(self) -> bool:
        """Commit the oldest batch of the spool, if one is due; returns whether one was committed."""
        entries = self.spool.peek(self.processor.max_batch)
        if not entries:
            return False
        age = time.time() - entries[0].received_at
        if len(entries) < self.processor.max_batch and age < self.processor.max_delay_s and not self.stop.is_set():
            # Let a batch form (fewer, larger transactions), but never hold a reading longer than max_delay_s.
            self.stop.wait(self.processor.max_delay_s - age)
            entries = self.spool.peek(self.processor.max_batch)
        if self._committed_through is None:
            self._committed_through = self.processor.writer.committed_through(self.spool.spool_id)
        done = [e for e in entries if e.seq <= self._committed_through]
        entries = entries[len(done) :]
        if done:  # committed already: forget them (and let the transport know), nothing is written again
            if self.on_commit is not None:
                self.on_commit(done)
            self._forget(done[-1].seq)
        if entries:
            self._refresh_catalogue()
            self._commit(entries)
            self._committed_through = entries[-1].seq
            if self.on_commit is not None:
                self.on_commit(entries)
            self._forget(entries[-1].seq)
            self._last_commit = time.time()
        self._drain_error = ""
        self._heartbeat()
        return True

    def _forget(self, seq: int) -> None:
        try:
            self.spool.delete_through(seq)
        except SpoolUnwritable as exc:  # committed and known: retried at the next drain, never re-committed
            if not self._delete_error:
                log.error("%s: %s; the committed messages stay in the spool and are skipped", self.name, exc)
            self._delete_error = str(exc)
            return
        if self._delete_error:
            log.warning("%s: spool deletes work again", self.name)
            self._delete_error = ""

    def _refresh_catalogue(self) -> None:
        if self.catalogue is None:
            return
        while True:
            try:
                self.processor.validator.catalogue = self.catalogue.current()
                return
            except psycopg2.Error as exc:  # no catalogue read yet and the database is away: wait for it
                if not self._drain_error:
                    log.warning("%s: database unavailable (%s); waiting to read the catalogue", self.name, exc)
                self._drain_error = str(exc).strip()
                if self.stop.wait(2.0):
                    raise psycopg2.OperationalError("stopping") from exc

    def _commit(self, entries: list[Entry]) -> None:
        try:
            self.processor.commit_entries(entries, spool_id=self.spool.spool_id)
        except _CONTENT_ERRORS as exc:
            if len(entries) == 1:
                self._quarantine_unwritable(entries[0], exc)
                return
            half = len(entries) // 2
            self._commit(entries[:half])
            self._commit(entries[half:])

    def _quarantine_unwritable(self, entry: Entry, exc: Exception) -> None:
        log.error("%s: the database refused message %d (%s): quarantined as write_failed", self.name, entry.seq, exc)
        text = entry.payload.decode("utf-8", errors="backslashreplace")
        rejection = Rejection(
            "write_failed", f"{type(exc).__name__}: {exc}"[:1000], text, entry.source, entry.received_at
        )
        batch = Batch(self.processor.build([], source=entry.source).frame, [rejection], 1, entry.source)
        batch.spool_id, batch.first_seq, batch.last_seq = self.spool.spool_id, entry.seq, entry.seq
        self.processor.totals.add(batch, self.processor.writer.commit(batch))

    # -- status ---------------------------------------------------------------------------------------------------
    def state(self) -> str:
        if self._unwritable:
            return "spool_unwritable"
        if self.processor.writer.down_since is not None or self._drain_error:
            return "database_down" if self.processor.writer.down_since is not None else "error"
        if self._full:
            return "spool_full"
        return "running"

    def status(self, state: str | None = None) -> dict:
        stats = self.spool.stats()
        return {
            "consumer": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": state or self.state(),
            "depth": stats.depth,
            "bytes": stats.bytes,
            "max_bytes": stats.max_bytes,
            "oldest": _iso(stats.oldest_received_at),
            "last_commit": _iso(self._last_commit),
            "error": (self._unwritable or self.processor.writer.last_error or self._drain_error)[:500],
        }

    def _write_status_file(self, status: dict | None = None) -> None:
        # Readable by `python -m ingestion status` while the database is down; best effort (the disk may be full).
        path = Path(self.spool.directory) / "status.json"
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**(status or self.status()), "updated_at": _iso(time.time())}))
            tmp.replace(path)
        except OSError:
            pass

    def _heartbeat(self, *, force: bool = False, state: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < self.heartbeat_s:
            return
        self._last_heartbeat = now
        status = self.status(state)
        self._write_status_file(status)
        try:
            if self._status_conn is None or self._status_conn.closed:
                self._status_conn = psycopg2.connect(
                    self.processor.writer.dsn, application_name=f"madinina-status-{self.name}", connect_timeout=3
                )
                self._status_conn.autocommit = True
            with self._status_conn.cursor() as cur:
                cur.execute(_STATUS_UPSERT, status)
        except psycopg2.Error:
            self._close_status()  # the database is away: status.json says it; the next heartbeat tries again

    def _close_status(self) -> None:
        if self._status_conn is not None and not self._status_conn.closed:
            self._status_conn.close()
        self._status_conn = None
