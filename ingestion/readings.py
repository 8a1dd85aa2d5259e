"""What flows between the stages of the ingestion: accepted readings, rejections, and batches of readings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Bounded so that one hostile producer cannot fill the quarantine table; the reason and detail say the rest.
PAYLOAD_KEEP_CHARS = 4096

BATCH_COLUMNS = ("time", "sensor_id", "metric", "value", "status")


@dataclass(slots=True)
class Reading:
    time: float  # event time, epoch seconds UTC
    sensor_id: str
    metric: str
    value: float
    status: str  # ok | warning | critical | fault
    sent_at: float | None = None  # when the producer sent it (epoch s), for pipeline latency


@dataclass(slots=True)
class Rejection:
    reason: str  # machine-readable, see ingestion.validation.REASONS
    detail: str
    payload: str
    source: str = "unknown"
    received_at: float | None = None

    def bounded_payload(self) -> str:
        if len(self.payload) <= PAYLOAD_KEEP_CHARS:
            return self.payload
        return self.payload[:PAYLOAD_KEEP_CHARS] + f"…[truncated, {len(self.payload)} chars]"


@dataclass
class Counters:
    """received = stored + duplicates + quarantined, at every moment between batches (units: readings;
    a message rejected as a whole counts as one)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    late: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def reconciles(self) -> bool:
        return self.received == self.stored + self.duplicates + self.quarantined

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "late": self.late,
        }


def frame_from_readings(readings: list[Reading]) -> pd.DataFrame:
    """A batch frame (the writer's input) from parsed readings."""
    times = np.fromiter((r.time for r in readings), dtype="float64", count=len(readings))
    return pd.DataFrame(
        {
            "time": pd.to_datetime(np.round(times * 1e6).astype("int64"), unit="us", utc=True),
            "sensor_id": [r.sensor_id for r in readings],
            "metric": [r.metric for r in readings],
            "value": np.fromiter((r.value for r in readings), dtype="float64", count=len(readings)),
            "status": [r.status for r in readings],
        }
    )
