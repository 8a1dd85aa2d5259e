"""The Spark tasks' columnar fast path: canonical multi-metric records validated as Arrow columns, the rest exactly.

`FastBuilder.build(messages)` returns the same Batch as `LiteProcessor.build(messages.rows, source=...)` (same
frame, row for row and in the same order, same rejections, same timings), but most messages never become
Python objects: the task's Arrow column of payloads goes through one RE2 match (pyarrow.compute, C++, the GIL
released) that recognises the canonical shape the simulator and the devices send,

    {"timestamp":"2026-10-26T07:33:20.000Z","sensor_id":"mq-fdf-aq-01","pm10":20.0,...,"status":"OK","sent_at":1.7e9}

(no whitespace, ASCII only, every number a plain decimal with at most 15 integer and 15 fraction digits), then its
fields are split, cast and checked against the Catalogue as arrays. A message takes the fast path only when it is
certainly valid as a whole: every pair key a catalogue metric (or sent_at) and none repeated, a known active
sensor, an event time in [2000-01-01, received + 300 s] and before 2200, every value within its metric's valid
range. Everything else — a defect, an extra field, whitespace, an escape, a date the calendar does not have, a
number the fast grammar does not take — goes to the project's Validator, message by message, so its rejection
and reason are the lite processor's by construction. Why in the Spark job only: its tasks get their messages as
Arrow columns already (mapInArrow), so the columnar checks cost no conversion; the lite processor receives
messages one at a time from its transports and spool, and stays the reference this path is tested against.

tests/unit/test_spark_fastpath.py checks with hypothesis that random canonical and non-canonical messages give
the same Batch through here as through LiteProcessor.build.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.processor import _mean, _plausible
from ingestion.readings import frame_from_readings
from ingestion.validation import MAX_EVENT_TIME, MAX_FUTURE_S, MIN_EVENT_TIME, SENT_AT_SKEW_S, Validator
from ingestion.writer import Batch, BatchTimings, compute_status

if TYPE_CHECKING:  # partition.py imports this module
    from ingestion.spark.partition import Messages

# Plain JSON decimals whose float() and Arrow's cast agree (both correctly rounded); no "-0" integer (json reads
# it as int 0, i.e. +0.0), no exponent, at most 15 digits each side (no digit run that needs the long-int decoder).
_NUM = r"(?:-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}|0|-?[1-9][0-9]{0,14})"
_PAIR = r'"[A-Za-z0-9_]{1,64}":' + _NUM
# A real calendar field range (fromisoformat refuses the others); the day of the month is checked by strptime.
_STAMP = r"2[0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
CANONICAL = (
    r'^\{"timestamp":"(?:' + _STAMP + r')(?:\.[0-9]{3}|\.[0-9]{6})?Z",'
    r'"sensor_id":"(?:[A-Za-z0-9_.:-]{1,64})",'
    r"(?:" + _PAIR + r"(?:," + _PAIR + r")*)"
    r'(?:,"status":"(?:[A-Za-z]{1,16})"(?:(?:,' + _PAIR + r")*))?\}$"
)
_FORMAT = "%Y-%m-%dT%H:%M:%S"
SENT_AT = "sent_at"
# Keys with a meaning of their own to the Validator: a catalogue metric of that name is left to it.
RESERVED = frozenset(
    {"timestamp", "time", "ts", "dateObserved", "sensor_id", "device_id", "metric", "type", "value", "unit",
     "status", "sent_at", "id", "@context"}
)  # fmt: skip
_DEVICE_STATUS = {"ok": "ok", "warning": "warning", "critical": "critical", "fault": "fault", "error": "fault"}
_SEVERITY = {"ok": 0, "warning": 1, "critical": 2, "fault": 3}
_STATUS_OF_RANK = np.array(["ok", "warning", "critical", "fault"], dtype=object)
_MAX_PAYLOAD = 64 * 1024
_MAX_COLUMN_BYTES = 1 << 30


class FastBuilder:
    """LiteProcessor.build for a Spark task's chunk, columnar for canonical messages (module docstring)."""

    def __init__(self, validator: Validator):
        self.validator = validator
        catalogue = validator.catalogue
        self.metrics = {name: m for name, m in catalogue.metrics.items() if name not in RESERVED}
        self.names = sorted(self.metrics)
        self.keys = pa.array([*self.names, SENT_AT], pa.string())
        self.valid_min = np.array([float(self.metrics[n].valid_min) for n in self.names] + [0.0])
        self.valid_max = np.array([float(self.metrics[n].valid_max) for n in self.names] + [0.0])
        self.sensors = pa.array(sorted(catalogue.sensor_ids), pa.string())
        self.fast_messages = 0  # how many took the fast path (for the task's summary)

    def build(self, messages: Messages) -> Batch:
        """The Batch of a task's chunk (partition.Messages: payloads as Arrow, received_at and broker_at arrays),
        as LiteProcessor.build(messages.rows, source=messages.source) makes it."""
        fast = self._fast(messages.values, messages.received, messages.broker)
        slow = self._slow(messages, fast["good"])
        return self._assemble(len(messages), messages.received, fast, slow, messages.source)

    # -- the columnar part ---------------------------------------------------------------------------------------
    def _fast(self, values, received: np.ndarray, broker: np.ndarray) -> dict:
        if isinstance(values, pa.ChunkedArray):
            if values.nbytes > _MAX_COLUMN_BYTES:  # 32-bit offsets: such a chunk goes to the Validator whole
                values = pa.nulls(len(values), pa.binary())
            else:
                values = values.combine_chunks() if values.num_chunks else pa.array([], pa.binary())
        values = values.cast(pa.binary())
        n = len(values)
        # One RE2 match (a DFA: no sub-matches, which cost 10x) says which lines are canonical; their fields are then
        # cut at separators the grammar makes unambiguous (a sensor id holds no quote, a pair no '"status":"').
        ok = pc.and_kleene(
            pc.match_substring_regex(values, CANONICAL), pc.less_equal(pc.binary_length(values), _MAX_PAYLOAD)
        )
        cand = np.flatnonzero(ok.fill_null(False).to_numpy(zero_copy_only=False))
        fields = _fields(values.take(cand))
        tail = fields["tail"]
        bad = np.zeros(len(cand), dtype=bool)

        # Event time: the seconds by strptime (a date the calendar lacks is null), the fraction in microseconds.
        stamp = fields["stamp"].cast(pa.string())
        seconds = pc.strptime(stamp, format=_FORMAT, unit="s", error_is_null=True)
        # strptime rolls 2026-02-30 over to March: a date that does not print back as written is not a date.
        real = pc.equal(pc.strftime(seconds, format=_FORMAT), stamp).fill_null(False)
        bad |= ~real.to_numpy(zero_copy_only=False)
        micros = _micros(fields["fraction"])
        whole = seconds.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        event = (whole * 1_000_000 + micros) / 1e6  # = datetime.timestamp(): integer microseconds / 1e6
        rec = received[cand]
        bad |= ~((event >= MIN_EVENT_TIME) & (event <= rec + MAX_FUTURE_S) & (event < MAX_EVENT_TIME))
        bad |= ~pc.is_in(fields["sensor"].cast(pa.string()), value_set=self.sensors).to_numpy(zero_copy_only=False)

        # The "key":number pairs (body, and after the status), one row per pair, owner = index into cand.
        pairs = pc.binary_join_element_wise(fields["body"], tail.fill_null(b""), b"")
        split = pc.split_pattern(pairs, ",")
        owner = pc.list_parent_indices(split).to_numpy(zero_copy_only=False)
        quoted, number_text = _cut(pc.list_flatten(split), b":")
        keys = pc.binary_slice(quoted, 1, -1).cast(pa.string())
        key_index = pc.index_in(keys, value_set=self.keys).fill_null(-1).to_numpy(zero_copy_only=False)
        number = pc.cast(number_text.cast(pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
        is_sent = key_index == len(self.names)
        is_metric = (key_index >= 0) & ~is_sent
        np.logical_or.at(bad, owner[key_index < 0], True)  # a key that is not a catalogue metric: the Validator
        repeated = pd.DataFrame({"o": owner, "k": key_index}).duplicated().to_numpy()
        np.logical_or.at(bad, owner[repeated], True)
        metric_count = np.bincount(owner[is_metric], minlength=len(cand))
        bad |= metric_count == 0
        in_range = (number >= self.valid_min[key_index]) & (number <= self.valid_max[key_index])
        np.logical_or.at(bad, owner[is_metric & ~in_range], True)

        sent = np.full(len(cand), np.nan)
        sent[owner[is_sent]] = number[is_sent]
        sent = np.where(sent > 1e11, sent / 1000.0, sent)
        sent_ok = (event - SENT_AT_SKEW_S <= sent) & (sent <= rec + SENT_AT_SKEW_S)
        sent = np.where(sent_ok, sent, np.nan)
        device = _device_status(fields["status"])

        good = np.zeros(n, dtype=bool)
        good[cand[~bad]] = True
        keep = is_metric & ~bad[owner]
        o = owner[keep]
        names = np.array(self.names, dtype=object)[key_index[keep]]
        value = number[keep]
        codes = pd.Categorical.from_codes(key_index[keep], categories=[*self.names, SENT_AT])  # compared as codes
        status = compute_status(pd.DataFrame({"metric": codes, "value": value}), self.metrics)
        rank = np.maximum(_rank(status), device[o])
        message = cand[o]
        b = broker[message]
        plausible = np.isfinite(b) & (event[o] - SENT_AT_SKEW_S <= b) & (b <= rec[o] + SENT_AT_SKEW_S)
        self.fast_messages += int((~bad).sum())
        return {
            "good": good,
            "message": message,
            "time": event[o],
            "sensor": fields["sensor"].cast(pa.string()).to_numpy(zero_copy_only=False)[o],
            "metric": names,
            "value": value,
            "status": _STATUS_OF_RANK[rank],
            "broker": np.where(plausible, b, sent[o]),  # NaN: no broker instant (the lite path's None)
        }

    # -- the exact part ------------------------------------------------------------------------------------------
    def _slow(self, messages: Messages, good: np.ndarray) -> dict:
        """LiteProcessor.build's loop over the messages the fast path did not take, with each reading's message."""
        readings, rejections, broker_times, message = [], [], [], []
        for i in np.flatnonzero(~good):
            payload, received_at, broker_at = messages.row(i)
            result = self.validator.parse(payload, received_at=received_at)
            readings.extend(result.readings)
            rejections.extend(result.rejections)
            message.extend([i] * len(result.readings))
            if result.readings and _plausible(broker_at, result.readings, received_at):
                broker_times.extend([broker_at] * len(result.readings))
            else:
                broker_times.extend(r.sent_at for r in result.readings if r.sent_at is not None)
        return {"readings": readings, "rejections": rejections, "broker": broker_times, "message": message}

    def _assemble(self, n: int, received: np.ndarray, fast: dict, slow: dict, source: str) -> Batch:
        readings = slow["readings"]
        if not len(fast["message"]):
            frame = frame_from_readings(readings)
        else:
            frame = pd.DataFrame(
                {
                    "time": np.concatenate([fast["time"], [r.time for r in readings]]),
                    "sensor_id": np.concatenate([fast["sensor"], [r.sensor_id for r in readings]]),
                    "metric": np.concatenate([fast["metric"], [r.metric for r in readings]]),
                    "value": np.concatenate([fast["value"], [r.value for r in readings]]),
                    "status": np.concatenate([fast["status"], [r.status for r in readings]]),
                }
            )
            # Message order, as the lite processor builds it (the writer keeps the first of a repeated reading).
            order = np.argsort(np.concatenate([fast["message"], slow["message"]]), kind="stable")
            frame = frame.iloc[order].reset_index(drop=True)
            times = frame["time"].to_numpy(dtype="float64")
            frame["time"] = pd.to_datetime(np.round(times * 1e6).astype("int64"), unit="us", utc=True)
        timings = None
        if len(frame):
            source_times = np.concatenate([fast["time"], [r.time for r in readings]])
            # _mean's rule (the finite ones), over arrays: fsum is exact, so the order does not matter.
            broker = [fast["broker"][np.isfinite(fast["broker"])], [_finite(slow["broker"])]]
            broker_times = np.concatenate([broker[0], np.asarray(broker[1][0], dtype="float64")])
            timings = BatchTimings(
                source=math.fsum(source_times) / len(source_times),
                broker=math.fsum(broker_times) / len(broker_times) if len(broker_times) else None,
                received=_mean(received[np.isfinite(received)]),
            )
        return Batch(frame, slow["rejections"], n, source, timings)


def _cut(values: pa.Array, separator: bytes) -> tuple[pa.Array, pa.Array]:
    """What comes before the first `separator` and after it ("" when it does not occur)."""
    parts = pc.split_pattern(values, separator, max_splits=1)
    two = pc.if_else(pc.greater(pc.list_value_length(parts), 1), parts, pa.scalar([b"", b""], parts.type))
    return pc.list_element(parts, 0), pc.list_element(two, 1)


def _fields(lines: pa.Array) -> dict[str, pa.Array]:
    """The fields of lines that match CANONICAL: stamp (19 characters), fraction ("" or ".fff"), sensor, body
    (the pairs before the status), status ("" when absent) and tail (",pair..." after the status)."""
    stamp = pc.binary_slice(lines, 14, 33)  # after '{"timestamp":"'
    time_text, rest = _cut(pc.binary_slice(lines, 33, _MAX_PAYLOAD), b'Z","sensor_id":"')
    sensor, rest = _cut(rest, b'",')
    body, rest = _cut(pc.binary_slice(rest, 0, -1), b',"status":"')  # without the closing brace
    status, tail = _cut(rest, b'"')
    return {"stamp": stamp, "fraction": time_text, "sensor": sensor, "body": body, "status": status, "tail": tail}


def _finite(values: list) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _micros(fraction: pa.Array) -> np.ndarray:
    """Microseconds of "" / ".fff" / ".ffffff" fractions (the only ones CANONICAL lets through)."""
    width = pc.binary_length(fraction).to_numpy(zero_copy_only=False)
    digits = pc.if_else(pc.equal(pc.binary_length(fraction), 0), b"0", pc.binary_slice(fraction, 1, 8))
    return pc.cast(digits.cast(pa.string()), pa.int64()).to_numpy(zero_copy_only=False) * np.where(width == 4, 1000, 1)


def _rank(status: np.ndarray) -> np.ndarray:
    """compute_status's words as severities (ok 0, warning 1, critical 2)."""
    return (status == "warning").astype("int64") + 2 * (status == "critical").astype("int64")


def _device_status(status: pa.Array) -> np.ndarray:
    """The severity of each message's own status word (absent or unknown: ok), as Validator._device_status."""
    words = status.cast(pa.string()).to_numpy(zero_copy_only=False)
    memo: dict = {}
    out = np.zeros(len(words), dtype="int64")
    for i, word in enumerate(words):
        if word not in memo:
            memo[word] = _SEVERITY[_DEVICE_STATUS.get(word.strip().lower(), "ok")] if word else 0
        out[i] = memo[word]
    return out
