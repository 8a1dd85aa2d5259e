"""The lite processor: messages -> validation -> one batch -> Writer.commit (one transaction with its ledger row).

Two ways in. The consumers hand it spool entries (`commit_entries`): the spool already made the messages durable
and ordered, and the entries' sequence range makes the commit replay-safe. In-process callers without a broker
(`simulate --transport direct`, tests, benches) `submit()` messages and `flush()` them.

The totals it keeps are what the database answered for each committed batch (stored, duplicates, quarantined),
next to what the transport handed over (received, in messages): a report, not a proof. The proof is the durable
ledger (`python -m ingestion reconcile`), checked by the tests against what the sender sent.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingestion.readings import Reading, Rejection, frame_from_readings
from ingestion.spool import Entry
from ingestion.validation import SENT_AT_SKEW_S, Validator
from ingestion.writer import Batch, BatchResult, BatchTimings, Writer


@dataclass
class Totals:
    """Running totals of what was committed: received in messages, the rest in readings / rejections."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_duplicates: int = 0
    late: int = 0  # readings older than one already seen for their (sensor, metric): stored and merged anyway
    batches: int = 0
    by_reason: Counter = field(default_factory=Counter)
    # Called with (batch, result) after each counted commit (ingestion/metrics.py); must not raise.
    observer: Callable[[Batch, BatchResult], None] | None = field(default=None, repr=False, compare=False)

    def add(self, batch: Batch, result: BatchResult) -> None:
        if result.replayed:  # committed before a crash: its counts are in the ledger already
            return
        self.batches += 1
        self.received += batch.received
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        self.quarantine_duplicates += result.quarantine_duplicates
        self.by_reason.update(result.by_reason)
        if self.observer is not None:
            self.observer(batch, result)

    def line(self) -> str:
        reasons = ", ".join(f"{k} {v:,}" for k, v in self.by_reason.most_common(4))
        return (
            f"received {self.received:,} messages -> stored {self.stored:,} readings, {self.duplicates:,} already "
            f"stored, quarantined {self.quarantined:,} (+{self.quarantine_duplicates:,} repeats)"
            + (f" [{reasons}]" if reasons else "")
        )


def _broker_at(meta: str | None) -> float | None:
    """The transport's broker-receipt stamp in a spool entry's meta (JSON written by our own consumer)."""
    if not meta:
        return None
    try:
        value = json.loads(meta).get("broker_at")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _plausible(broker_at: float | None, readings: Sequence[Reading], received_at: float) -> bool:
    if broker_at is None or not math.isfinite(broker_at):
        return False
    return min(r.time for r in readings) - SENT_AT_SKEW_S <= broker_at <= received_at + SENT_AT_SKEW_S


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None


class LiteProcessor:
    def __init__(
        self,
        writer: Writer,
        validator: Validator,
        *,
        max_batch: int = 20_000,
        max_delay_s: float = 0.5,
        clock=time.time,
    ):
        self.writer = writer
        self.validator = validator
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.totals = Totals()
        self._buffer: list[tuple[bytes | str, float]] = []
        # Newest event time seen per (sensor, metric): an older reading arriving after it is counted as late.
        # It is still stored and merged into its windows (the writer upserts them), so late is information.
        self._high_water: dict[tuple[str, str], float] = {}

    # -- building a batch (pure: validation only) ------------------------------------------------------------
    def build(self, messages: Sequence[tuple], *, source: str) -> Batch:
        """Validate (payload, received_at[, broker_at]) messages into one Batch. `broker_at` (epoch s) is when the
        message reached the broker, stamped by the transport (the MQTT->Kafka bridge, docs/kafka.md): given and
        plausible (the rule of `sent_at`: within [event time - skew, received_at + skew], since anyone can produce a
        header), it is the broker stage of the pipeline latency; otherwise the device's plausible `sent_at` is."""
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        broker_times: list[float] = []
        for message in messages:
            payload, received_at = message[0], message[1]
            broker_at = message[2] if len(message) > 2 else None
            result = self.validator.parse(payload, received_at=received_at)
            readings.extend(result.readings)
            rejections.extend(result.rejections)
            if result.readings and _plausible(broker_at, result.readings, received_at):
                broker_times.extend([broker_at] * len(result.readings))
            else:
                broker_times.extend(r.sent_at for r in result.readings if r.sent_at is not None)
        for reading in readings:
            key = (reading.sensor_id, reading.metric)
            if reading.time < self._high_water.get(key, float("-inf")):
                self.totals.late += 1
            else:
                self._high_water[key] = reading.time
        timings = None
        if readings:
            timings = BatchTimings(
                source=_mean([r.time for r in readings]),
                broker=_mean(broker_times),
                received=_mean([message[1] for message in messages]),
            )
        return Batch(frame_from_readings(readings), rejections, len(messages), source, timings)

    # -- the consumers' way: entries of a durable spool ------------------------------------------------------------
    def commit_entries(self, entries: Sequence[Entry], *, spool_id: str) -> BatchResult:
        batch = self.build([(e.payload, e.received_at, _broker_at(e.meta)) for e in entries], source=entries[0].source)
        batch.spool_id, batch.first_seq, batch.last_seq = spool_id, entries[0].seq, entries[-1].seq
        result = self.writer.commit(batch)
        self.totals.add(batch, result)
        return result

    # -- the in-process way: submit, then flush ------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._buffer)

    def submit(self, payload: bytes | str, *, received_at: float | None = None) -> None:
        self._buffer.append((payload, self.clock() if received_at is None else received_at))

    def due(self) -> bool:
        if not self._buffer:
            return False
        return len(self._buffer) >= self.max_batch or self.clock() - self._buffer[0][1] >= self.max_delay_s

    def flush(self) -> BatchResult | None:
        """Commit what is buffered. On failure the buffer is kept (nothing accepted is lost) and it raises."""
        if not self._buffer:
            return None
        batch = self.build(self._buffer, source=self.validator.source)
        result = self.writer.commit(batch)
        self.totals.add(batch, result)
        self._buffer = []
        return result
