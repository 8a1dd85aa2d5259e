"""What the long-running ingestion commands share (run, consume, consume-kafka, bridge): the stop signal, the
catalogue sync at start, the alerts ticker, the progress line, durations."""

from __future__ import annotations

import logging
import re
import signal
import threading
import time

import psycopg2

log = logging.getLogger("ingestion")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
_UNIT_S = {"s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '7d', '1w' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 2h, 7d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class Stop:
    """Set by SIGINT/SIGTERM; loops poll it so that they can flush before exiting."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, _signum, _frame) -> None:
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()


def sync_catalogue_at_start(args, stop: Stop | None = None) -> None:
    """Upsert the code catalogue into sensors/metrics. With `stop` (the long-running commands), wait out a
    database that is not there yet instead of failing: the consumer spools meanwhile."""
    import tenacity

    from ingestion.ops import writer_dsn as _writer_dsn
    from ingestion.registry import sync_catalogue

    def once():
        conn = psycopg2.connect(_writer_dsn(args), connect_timeout=5)
        try:
            return sync_catalogue(conn)
        finally:
            conn.close()

    if stop is None:
        metrics, sensors = once()
    else:
        metrics, sensors = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(psycopg2.OperationalError),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=30),
            stop=tenacity.stop_when_event_set(stop.event),
            sleep=stop.event.wait,
            before_sleep=lambda state: log.warning(
                "database unavailable (%s); retrying the catalogue sync", str(state.outcome.exception()).strip()
            ),
            reraise=True,
        )(once)
    print(f"catalogue: {sensors} sensors, {metrics} metrics", flush=True)


class AlertsTicker:
    """Evaluates the alerts engine at most every `every` seconds, on its own connection; with a webhook configured
    (MADININA_WEBHOOK_URL, see ingestion/notify.py) a notifier thread delivers the resulting events, woken after
    each evaluation, so that HTTP retries never hold up the consumer's loop."""

    def __init__(self, dsn: str, every: float):
        self.dsn, self.every, self._last, self._conn = dsn, every, 0.0, None
        self._notifier = None
        if every > 0:
            from ingestion.notify import start_from_env

            self._notifier = start_from_env(dsn)

    def maybe_run(self) -> None:
        if self.every <= 0 or time.monotonic() - self._last < self.every:
            return
        from ingestion.alerts import evaluate

        self._last = time.monotonic()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg2.connect(self.dsn, application_name="madinina-alerts")
            evaluate(self._conn)
        except psycopg2.Error as exc:  # alerts must never stop ingestion; the next tick retries
            log.warning("alerts evaluation failed: %s", str(exc).strip())
            if self._conn is not None:
                self._conn.close()
            self._conn = None
        if self._notifier is not None:
            self._notifier.wake.set()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._notifier is not None:
            self._notifier.stop.set()
            self._notifier.wake.set()


def report_line(ingest, prefix: str) -> str:
    stats = ingest.spool.stats()
    oldest = "" if stats.oldest_received_at is None else f", oldest {time.time() - stats.oldest_received_at:.0f}s ago"
    return f"{prefix}: {ingest.processor.totals.line()}; spool {stats.depth:,} waiting{oldest} ({ingest.state()})"
