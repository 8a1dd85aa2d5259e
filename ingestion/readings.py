"""What flows between the stages of the ingestion: accepted readings, rejections, and batches of readings."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

# Bounded so that one hostile producer cannot fill the quarantine table; the reason and detail say the rest.
PAYLOAD_KEEP_CHARS = 4096
# Room for the truncation marker: a payload up to this length is kept whole, so bounding is idempotent (a
# rejection rebuilt from a stored row, as the Spark sink does, is not truncated twice). Well under the
# CHECK (length(payload) <= 8192) of the quarantine table.
PAYLOAD_MAX_CHARS = PAYLOAD_KEEP_CHARS + 64
DETAIL_MAX_CHARS = 1000
SOURCE_MAX_CHARS = 64
REASON_MAX_CHARS = 64
_MAX_EPOCH = 253402300800.0  # 10000-01-01T00:00:00Z, beyond datetime's range

BATCH_COLUMNS = ("time", "sensor_id", "metric", "value", "status")


@dataclass(slots=True)
class Reading:
    time: float  # event time, epoch seconds UTC
    sensor_id: str
    metric: str
    value: float
    status: str  # ok | warning | critical | fault
    sent_at: float | None = None  # when the producer sent it (epoch s), for pipeline latency


def pg_text(value: object, limit: int | None = None) -> str:
    """`value` as text that PostgreSQL accepts (UTF-8, no NUL), made valid FIRST and bounded AFTER.

    Bytes that are not UTF-8 are shown as \\xNN escapes, lone surrogates (a JSON "\\ud800", or a str decoded with
    surrogateescape) as \\udNNN escapes and NUL as \\x00: escaping can multiply the length by six, so bounding
    before it could overflow the column limits. Over `limit` characters, the text is cut and ends with "…"."""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", errors="backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:  # a hostile __str__ (or one too deep to print) must not stop a quarantine insert
            text = f"<unprintable {type(value).__name__}>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def payload_text(value: object) -> str:
    """pg_text() of a payload, at most PAYLOAD_MAX_CHARS characters: cut at PAYLOAD_KEEP_CHARS, then a marker
    with the full length and a hash of the full text, so two long payloads that share their first characters
    remain two distinct quarantine rows (the quarantine de-duplicates on reason, detail and payload)."""
    text = pg_text(value)
    if len(text) <= PAYLOAD_MAX_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return text[:PAYLOAD_KEEP_CHARS] + f"…[truncated, sha256 {digest}, {len(text)} chars]"


@dataclass(slots=True)
class Rejection:
    """A message (or one metric of it) refused by validation, on its way to the quarantine table.

    Whatever it is built from (bytes that are not UTF-8, text with NUL or lone surrogates, megabytes), its
    payload, detail and source are valid PostgreSQL text within the column bounds as soon as it exists, so the
    quarantine insert cannot fail on them: `db_row()` gives the VALUES of ingestion.writer._QUARANTINE."""

    reason: str  # machine-readable, see ingestion.validation.REASONS
    detail: str
    payload: str  # bytes are accepted and turned into text
    source: str = "unknown"
    received_at: float | None = None

    def __post_init__(self) -> None:
        self.reason = pg_text(self.reason, REASON_MAX_CHARS)
        self.detail = pg_text(self.detail, DETAIL_MAX_CHARS)
        self.payload = payload_text(self.payload)
        self.source = pg_text(self.source, SOURCE_MAX_CHARS)

    def bounded_payload(self) -> str:
        """The payload as stored: valid text, at most PAYLOAD_MAX_CHARS characters (already so since __init__)."""
        return self.payload

    def db_row(self, now: float | None = None) -> tuple[datetime, str, str, str, str]:
        """(received_at, source, payload, reason, detail), the VALUES order of ingestion.writer._QUARANTINE.
        A missing or impossible received_at (not finite, before 1970 or after 9999) becomes `now`."""
        when = self.received_at
        if isinstance(when, bool) or not isinstance(when, int | float) or not 0 <= when < _MAX_EPOCH:
            when = time.time() if now is None else now
        return (datetime.fromtimestamp(when, UTC), self.source, self.payload, self.reason, self.detail)


@dataclass
class Counters:
    """The Spark sink's per-query totals (stream_batches keeps them durably). Units: readings; a message rejected
    as a whole counts as one. A report, not a proof: tests compare with what the sender sent."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    late: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

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
