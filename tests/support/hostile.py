"""Hostile messages BY CONSTRUCTION: a valid single reading with exactly one known defect injected, so the
reason it must be quarantined with is known without asking the validator (issue 8, the 100k fuzz acceptance).

Every message carries a unique `fuzz_id` as its first field ("F" + 8 digits): the quarantine payload keeps
its beginning (bounded, made valid text), so a stored rejection can be traced back to the message that caused
it, and no two payloads are equal (the quarantine stores an identical rejection once). Valid messages have a
unique (sensor, metric, time), one reading each.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ingestion.catalogue import METRICS, SENSORS

FUZZ_ID_PATTERN = "F[0-9]{8}"


@dataclass(frozen=True)
class Hostile:
    fuzz_id: str
    payload: bytes
    reason: str | None  # None = valid: one reading stored
    defect: str
    key: tuple[str, str, int] | None = None  # (sensor_id, metric, time µs) of the valid reading


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode("utf-8")


def _set(key: str, value) -> Callable[[dict], bytes]:
    def apply(m: dict) -> bytes:
        m[key] = value
        return _dumps(m)

    return apply


def _drop(key: str) -> Callable[[dict], bytes]:
    def apply(m: dict) -> bytes:
        del m[key]
        return _dumps(m)

    return apply


def _truncated(m: dict) -> bytes:
    raw = _dumps(m)
    return raw[: max(len('{"fuzz_id":"F00000000"') + 2, len(raw) // 2)]


def _array(m: dict) -> bytes:
    return _dumps([m["fuzz_id"], m])


def _out_of_range(m: dict) -> bytes:
    d = METRICS[m["metric"]]
    m["value"] = d.valid_max + (d.valid_max - d.valid_min) + 1.0
    return _dumps(m)


def _below_range(m: dict) -> bytes:
    d = METRICS[m["metric"]]
    m["value"] = d.valid_min - (d.valid_max - d.valid_min) - 1.0
    return _dumps(m)


def _unknown_sensor(m: dict) -> bytes:
    m["sensor_id"] = "ZZ-" + m["fuzz_id"]
    return _dumps(m)


def _too_large(m: dict) -> bytes:
    m["padding"] = "x" * (70 * 1024)
    return _dumps(m)


def _after_id(insert: bytes) -> Callable[[dict], bytes]:
    """Raw bytes inserted right after the fuzz_id field (so the id stays readable in the stored payload)."""

    def apply(m: dict) -> bytes:
        raw = _dumps(m)
        cut = raw.index(b",") + 1
        return raw[:cut] + insert + raw[cut:]

    return apply


def _duplicate_value(m: dict) -> bytes:
    return _dumps(m)[:-1] + b',"value":1}'


# (defect name, reason, mutation of the valid message dict -> payload bytes). Exactly one defect each.
DEFECTS: list[tuple[str, str, Callable[[dict], bytes]]] = [
    ("truncated_json", "invalid_json", _truncated),
    ("top_level_array", "not_an_object", _array),
    ("no_timestamp", "missing_field", _drop("timestamp")),
    ("no_sensor", "missing_field", _drop("sensor_id")),
    ("no_value", "missing_field", _drop("value")),
    ("no_metric", "missing_field", _drop("metric")),
    ("garbage_timestamp", "invalid_timestamp", _set("timestamp", "yesterday at noon")),
    ("future_timestamp", "future_timestamp", _set("timestamp", "2099-01-01T00:00:00Z")),
    ("unknown_sensor", "unknown_sensor", _unknown_sensor),
    ("unknown_metric", "unknown_metric", _set("metric", "radon")),
    ("text_value", "non_numeric_value", _set("value", "ERR")),
    ("bool_value", "non_numeric_value", _set("value", True)),
    ("object_value", "non_numeric_value", _set("value", {"v": 1})),
    ("nan_value", "non_finite_value", _set("value", float("nan"))),
    ("infinite_value", "non_finite_value", _set("value", float("inf"))),
    ("above_range", "out_of_range", _out_of_range),
    ("below_range", "out_of_range", _below_range),
    ("unknown_unit", "unknown_unit", _set("unit", "furlongs per fortnight")),
    ("over_64KiB", "payload_too_large", _too_large),
    ("invalid_utf8", "invalid_encoding", _after_id(b'"note":"caf\xe9",')),
    ("lone_surrogate", "invalid_encoding", _after_id(b'"note":"\\ud800",')),
    ("raw_nul_bytes", "invalid_json", _after_id(b"\x00\x00")),
    ("duplicate_value_key", "duplicate_key", _duplicate_value),
    ("sensor_id_list", "invalid_field", lambda m: _set("sensor_id", [m["sensor_id"]])(m)),
    ("metric_object", "invalid_field", lambda m: _set("metric", {"name": m["metric"]})(m)),
    ("null_value", "missing_field", _set("value", None)),
    ("timestamp_1999", "invalid_timestamp", _set("timestamp", "1999-12-31T23:59:59Z")),
]

# The 70 KiB kind is rarer: a few hundred of them test the limit as well as thousands, without megabytes queued.
WEIGHTS = [0.1 if name == "over_64KiB" else 1.0 for name, _, _ in DEFECTS]


class HostileStream:
    """Deterministic (seeded) stream of valid and hostile messages; times are whole seconds from `start`, one
    instant per message, so valid readings never collide."""

    def __init__(self, seed: int, start: int, *, prefix: int = 0):
        self.rng = random.Random(seed)
        self.start = int(start)
        self.n = prefix * 10_000_000  # separate id ranges for separate streams of one test
        self.pairs = [(s.sensor_id, m) for s in SENSORS for m in s.metrics]

    def _valid(self) -> dict:
        self.n += 1
        sensor_id, metric = self.pairs[self.n % len(self.pairs)]
        d = METRICS[metric]
        value = round(d.valid_min + (d.valid_max - d.valid_min) * self.rng.uniform(0.05, 0.95), 2)
        return {
            "fuzz_id": f"F{self.n:08d}",
            "timestamp": _iso(self.start + self.n),
            "sensor_id": sensor_id,
            "metric": metric,
            "value": value,
            "unit": d.unit,
        }

    def valid(self) -> Hostile:
        m = self._valid()
        key = (m["sensor_id"], m["metric"], (self.start + self.n) * 1_000_000)
        return Hostile(m["fuzz_id"], _dumps(m), None, "valid", key)

    def hostile(self, defect: int | None = None) -> Hostile:
        if defect is None:
            defect = self.rng.choices(range(len(DEFECTS)), WEIGHTS)[0]
        name, reason, mutate = DEFECTS[defect]
        m = self._valid()
        return Hostile(m["fuzz_id"], mutate(m), reason, name)

    def mixed(self, n: int, hostile_share: float) -> list[Hostile]:
        return [self.hostile() if self.rng.random() < hostile_share else self.valid() for _ in range(n)]
