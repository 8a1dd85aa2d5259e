"""Turn raw messages (DESIGN.md §3) into readings, or into rejections with a machine-readable reason.

Accepted shapes: one reading, one multi-metric record, an NGSI-LD-style entity. Decisions (documented in
docs/architecture.md): unknown sensors are quarantined (the map and the offline detection need a catalogue
entry); numeric strings such as "22.5" are accepted; a naive timestamp is taken as UTC; in a multi-metric
record, keys that are not metrics are ignored (extra fields must not cause rejection) while each invalid metric
value is quarantined on its own and the valid ones are kept.
"""

from __future__ import annotations

import json
import math
import time as _time
from dataclasses import dataclass
from datetime import UTC, datetime

from ingestion.catalogue import METRICS, SENSORS, Metric, normalise_unit
from ingestion.readings import Reading, Rejection

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_FUTURE_S = 300.0

REASONS = (
    "payload_too_large",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "invalid_timestamp",
    "future_timestamp",
    "unknown_sensor",
    "unknown_metric",
    "non_numeric_value",
    "non_finite_value",
    "unknown_unit",
    "out_of_range",
)

_TIME_KEYS = ("timestamp", "time", "ts", "dateObserved")
_SENSOR_KEYS = ("sensor_id", "device_id")
_METRIC_KEYS = ("metric", "type")
_DEVICE_STATUS = {"ok": "ok", "warning": "warning", "critical": "critical", "fault": "fault", "error": "fault"}
_SEVERITY = {"ok": 0, "warning": 1, "critical": 2, "fault": 3}

# NGSI-LD / FIWARE Smart Data Models property names -> (our metric, unit the property is expressed in).
NGSI_PROPERTIES = {
    "pm10": ("pm10", None),
    "pm25": ("pm25", None),
    "no2": ("no2", None),
    "o3": ("o3", None),
    "so2": ("so2", None),
    "co2": ("co2", None),
    "sh2": ("h2s", None),
    "h2s": ("h2s", None),
    "nh3": ("nh3", None),
    "temperature": ("temperature", None),
    "relativeHumidity": ("humidity", "0-1"),
    "atmosphericPressure": ("pressure", None),
    "windSpeed": ("wind_speed", "m/s"),
    "windDirection": ("wind_direction", None),
    "precipitation": ("rain", None),
    "LAeq": ("noise", None),
    "intensity": ("traffic_flow", None),
    "averageVehicleSpeed": ("traffic_speed", None),
    "occupancy": ("parking_occupancy", "0-1"),
    "illuminanceLevel": ("light_level", "0-1"),
    "batteryLevel": ("battery", None),
}


@dataclass(frozen=True)
class Catalogue:
    """What validation checks against: metric definitions and the known sensor ids."""

    metrics: dict[str, Metric]
    sensor_ids: frozenset[str]

    @classmethod
    def default(cls) -> Catalogue:
        return cls(dict(METRICS), frozenset(s.sensor_id for s in SENSORS))

    @classmethod
    def from_db(cls, conn) -> Catalogue:
        """The catalogue as the database has it (so an operator's edits to sensors/metrics count)."""
        with conn.cursor() as cur:
            cur.execute(
                "SELECT metric, unit, label_fr, label_en, valid_min, valid_max, warn_low, warn_high, crit_low,"
                " crit_high FROM metrics"
            )
            metrics = {row[0]: Metric(*row) for row in cur.fetchall()}
            cur.execute("SELECT sensor_id FROM sensors WHERE active")
            sensors = frozenset(row[0] for row in cur.fetchall())
        return cls(metrics, sensors)


@dataclass
class ParseResult:
    readings: list[Reading]
    rejections: list[Rejection]


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_time(raw: object) -> float:
    """Epoch seconds from an ISO-8601 string or an epoch number (seconds, or milliseconds when > 1e11)."""
    if isinstance(raw, bool) or raw is None:
        raise _Reject("invalid_timestamp", f"timestamp {raw!r} is not a time")
    if isinstance(raw, int | float):
        value = float(raw)
        if not math.isfinite(value):
            raise _Reject("invalid_timestamp", f"timestamp {raw!r} is not finite")
        return value / 1000.0 if value > 1e11 else value
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _Reject("invalid_timestamp", f"timestamp {raw[:64]!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise _Reject("invalid_timestamp", f"timestamp of type {type(raw).__name__} is not a time")


def _number(raw: object, metric: str) -> float:
    if isinstance(raw, bool) or raw is None:
        raise _Reject("non_numeric_value", f"{metric}: value {raw!r} is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Reject("non_numeric_value", f"{metric}: value {raw[:64]!r} is not a number") from None
    else:
        raise _Reject("non_numeric_value", f"{metric}: value of type {type(raw).__name__} is not a number")
    if not math.isfinite(value):
        raise _Reject("non_finite_value", f"{metric}: value {raw!r} is not finite")
    return value


class Validator:
    def __init__(self, catalogue: Catalogue | None = None, *, source: str = "unknown", clock=_time.time):
        self.catalogue = catalogue or Catalogue.default()
        self.source = source
        self.clock = clock

    def parse(self, payload: bytes | str, *, received_at: float | None = None) -> ParseResult:
        received_at = self.clock() if received_at is None else received_at
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes | bytearray) else payload
        try:
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise _Reject("payload_too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
            try:
                message = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise _Reject("invalid_json", str(exc)[:200]) from None
            if not isinstance(message, dict):
                raise _Reject("not_an_object", f"top-level JSON is {type(message).__name__}, expected an object")
            return self._parse_object(message, text, received_at)
        except _Reject as rej:
            return ParseResult([], [Rejection(rej.reason, rej.detail, text, self.source, received_at)])

    # -- shapes ---------------------------------------------------------------------------------------------
    def _parse_object(self, msg: dict, text: str, received_at: float) -> ParseResult:
        if "@context" in msg or ("id" in msg and "type" in msg and str(msg.get("id", "")).startswith("urn:")):
            return self._parse_ngsi(msg, text, received_at)
        sensor_id = self._sensor(msg)
        event_time = self._event_time(msg, received_at)
        sent_at = msg.get("sent_at") if isinstance(msg.get("sent_at"), int | float) else None
        device_status = _DEVICE_STATUS.get(str(msg.get("status", "ok")).strip().lower(), "ok")
        metric = next((msg[k] for k in _METRIC_KEYS if isinstance(msg.get(k), str)), None)
        if "value" in msg:
            if metric is None:
                raise _Reject("missing_field", "single reading without 'metric' or 'type'")
            reading = self._reading(
                sensor_id, metric, msg["value"], msg.get("unit"), event_time, device_status, sent_at
            )
            return ParseResult([reading], [])
        items = [(k, v, None) for k, v in msg.items() if k in self.catalogue.metrics]
        if not items:
            if metric is not None:
                raise _Reject("missing_field", f"reading of {metric[:64]!r} without 'value'")
            raise _Reject("missing_field", "no 'value' and no known metric field in the record")
        return self._many(sensor_id, items, event_time, device_status, sent_at, text, received_at)

    def _parse_ngsi(self, msg: dict, text: str, received_at: float) -> ParseResult:
        entity_id = str(msg.get("id", ""))
        sensor_id = entity_id.rsplit(":", 1)[-1] if entity_id else ""
        if not sensor_id:
            raise _Reject("missing_field", "NGSI-LD entity without 'id'")
        self._check_sensor(sensor_id)
        observed = msg.get("dateObserved")
        if isinstance(observed, dict):
            observed = observed.get("value", observed.get("@value"))
        if observed is None:
            raise _Reject("missing_field", "NGSI-LD entity without 'dateObserved'")
        event_time = self._checked_time(parse_time(observed), received_at)
        items = []
        for key, prop in msg.items():
            if key in NGSI_PROPERTIES and isinstance(prop, dict) and "value" in prop:
                metric, unit = NGSI_PROPERTIES[key]
                items.append((metric, prop["value"], unit))
        if not items:
            raise _Reject("missing_field", "NGSI-LD entity without a known property")
        return self._many(sensor_id, items, event_time, "ok", None, text, received_at)

    def _many(self, sensor_id, items, event_time, device_status, sent_at, text, received_at) -> ParseResult:
        readings, rejections = [], []
        for metric, raw_value, unit in items:
            try:
                readings.append(self._reading(sensor_id, metric, raw_value, unit, event_time, device_status, sent_at))
            except _Reject as rej:
                rejections.append(Rejection(rej.reason, rej.detail, text, self.source, received_at))
        return ParseResult(readings, rejections)

    # -- fields ---------------------------------------------------------------------------------------------
    def _sensor(self, msg: dict) -> str:
        sensor_id = next((msg[k] for k in _SENSOR_KEYS if msg.get(k) not in (None, "")), None)
        if sensor_id is None:
            raise _Reject("missing_field", "no 'sensor_id' or 'device_id'")
        sensor_id = str(sensor_id).strip()
        self._check_sensor(sensor_id)
        return sensor_id

    def _check_sensor(self, sensor_id: str) -> None:
        if sensor_id not in self.catalogue.sensor_ids:
            raise _Reject("unknown_sensor", f"sensor {sensor_id[:80]!r} is not in the catalogue")

    def _event_time(self, msg: dict, received_at: float) -> float:
        raw = next((msg[k] for k in _TIME_KEYS if k in msg), None)
        if raw is None:
            raise _Reject("missing_field", "no 'timestamp', 'time' or 'ts'")
        return self._checked_time(parse_time(raw), received_at)

    def _checked_time(self, event_time: float, received_at: float) -> float:
        if event_time > received_at + MAX_FUTURE_S:
            raise _Reject("future_timestamp", f"event time is {event_time - received_at:.0f}s in the future")
        if event_time < 0:
            raise _Reject("invalid_timestamp", "event time before 1970")
        return event_time

    def _reading(self, sensor_id, metric, raw_value, unit, event_time, device_status, sent_at) -> Reading:
        definition = self.catalogue.metrics.get(metric)
        if definition is None:
            raise _Reject("unknown_metric", f"metric {str(metric)[:64]!r} is not in the catalogue")
        value = _number(raw_value, metric)
        try:
            value = normalise_unit(metric, unit, value)
        except ValueError as exc:
            raise _Reject("unknown_unit", str(exc)) from None
        if not definition.valid_min <= value <= definition.valid_max:
            raise _Reject(
                "out_of_range",
                f"{metric}={value:g} outside the valid range [{definition.valid_min:g}, {definition.valid_max:g}]",
            )
        status = definition.status_of(value)
        if _SEVERITY[device_status] > _SEVERITY[status]:
            status = device_status
        return Reading(event_time, sensor_id, metric, value, status, sent_at)
