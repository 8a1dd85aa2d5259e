"""The lite processor: validate messages, buffer readings, flush them through the writer.

It keeps the reconciliation counters of DESIGN.md §3 (received = stored + duplicates + quarantined after
every flush). Transports call `submit()` for each message and `flush()` when their batch is complete; a
transport that must acknowledge messages (MQTT QoS 1) acknowledges only after `flush()` returned, so a crash
between receipt and commit means redelivery, which the idempotent writer absorbs.
"""

from __future__ import annotations

import statistics
import time

from ingestion.readings import Counters, Reading, Rejection, frame_from_readings
from ingestion.validation import Validator
from ingestion.writer import BatchTimings, Writer


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
        self.counters = Counters()
        self._readings: list[Reading] = []
        self._rejections: list[Rejection] = []
        self._received_at: list[float] = []
        self._first_at: float | None = None
        # Newest event time seen per (sensor, metric): an older reading arriving after it is counted as late.
        # It is still stored and merged into its windows (the writer upserts them), so late is information.
        self._high_water: dict[tuple[str, str], float] = {}

    @property
    def pending(self) -> int:
        return len(self._readings) + len(self._rejections)

    def submit(self, payload: bytes | str, *, received_at: float | None = None) -> None:
        received_at = self.clock() if received_at is None else received_at
        result = self.validator.parse(payload, received_at=received_at)
        for reading in result.readings:
            key = (reading.sensor_id, reading.metric)
            if reading.time < self._high_water.get(key, float("-inf")):
                self.counters.late += 1
            else:
                self._high_water[key] = reading.time
        self._readings.extend(result.readings)
        self._rejections.extend(result.rejections)
        self._received_at.append(received_at)
        self.counters.received += len(result.readings) + len(result.rejections)
        if self._first_at is None:
            self._first_at = received_at

    def due(self) -> bool:
        if not self.pending:
            return False
        return self.pending >= self.max_batch or self.clock() - (self._first_at or 0) >= self.max_delay_s

    def flush(self) -> None:
        """Write what is buffered. On failure the buffer is kept (nothing accepted is lost) and it raises."""
        readings, rejections = self._readings, self._rejections
        if rejections:
            stored = self.writer.quarantine(rejections)
            self.counters.quarantined += stored
            self.counters.duplicates += len(rejections) - stored
            for rej in rejections:
                self.counters.by_reason[rej.reason] = self.counters.by_reason.get(rej.reason, 0) + 1
            self._rejections = []
        if readings:
            sent = [r.sent_at for r in readings if r.sent_at is not None]
            timings = BatchTimings(
                source=statistics.fmean(r.time for r in readings),
                broker=statistics.fmean(sent) if sent else None,
                received=statistics.fmean(self._received_at) if self._received_at else None,
            )
            result = self.writer.write(frame_from_readings(readings), timings=timings)
            self.counters.stored += result.stored
            self.counters.duplicates += result.duplicates
            self._readings = []
        self._received_at = []
        self._first_at = None
