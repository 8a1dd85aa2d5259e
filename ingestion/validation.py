"""Turn raw messages (DESIGN.md §3) into readings, or into rejections with a machine-readable reason.

Accepted shapes: one reading, one multi-metric record, an NGSI-LD-style entity. Decisions (documented in
docs/architecture.md): unknown sensors are quarantined (the map and the offline detection need a catalogue
entry); numeric strings such as "22.5" are accepted; a naive timestamp is taken as UTC; in a multi-metric
record, keys that are not metrics are ignored (extra fields must not cause rejection) while each invalid metric
value is quarantined on its own and the valid ones are kept; an NGSI-LD property may be normalised
(`{"type": "Property", "value": ...}`) or a bare value (keyValues).

Total: `Validator.parse` never raises, whatever the bytes. A rejection names the message's FIRST real defect,
the one whose reason comes first in REASONS (the precedence of DESIGN §3); its detail lists the others found
("; also: ..."). Stage by stage:
  1. bytes and JSON: payload_too_large (> MAX_PAYLOAD_BYTES, nothing else is looked at), invalid_encoding (not
     UTF-8), invalid_json (syntax, or nesting deeper than the parser's stack; NaN / Infinity literals parse),
     invalid_encoding again for a JSON string that escapes a lone surrogate ("\ud800": seen only once the JSON
     parses), duplicate_key (at any depth: which value counts is ambiguous);
  2. shape: not_an_object, missing_field (no time, sensor, metric or value; null or "" counts as missing),
     invalid_field (sensor_id, device_id, NGSI id, metric, unit or status that is not a string);
  3. time, then value: invalid_timestamp (not ISO-8601 nor an epoch number, not finite, before 2000-01-01: a
     device clock that was never set), future_timestamp (more than MAX_FUTURE_S after reception),
     non_numeric_value, non_finite_value (NaN / Infinity, as literals or strings), unknown_unit, out_of_range
     (outside the metric's valid range, including numbers beyond a double: a 401-digit integer, 1e400);
  4. unknown_metric (a unit or a range cannot be judged without the metric: only 1-3 of the value come first);
  5. unknown_sensor.
A defect of the message itself (its encoding, shape or time) or an unknown sensor rejects it once, as a whole;
with a known sensor and a valid time, each metric of a record is accepted or rejected on its own (rejections
ordered by precedence). internal_error is the last resort for a bug (logged with its traceback); the tests show
that it does not occur on the poison corpus or under fuzzing.

`sent_at` (when the device says it sent the message, for the pipeline latency) is untrusted: it is kept only when
it is a finite epoch time (seconds, or milliseconds when > 1e11) within [event time - SENT_AT_SKEW_S, received_at
+ SENT_AT_SKEW_S]; otherwise it is dropped (None), never a rejection, so no implausible broker stage is recorded.
"""

from __future__ import annotations

import logging
import math
import time as _time
from dataclasses import dataclass
from datetime import UTC, datetime

from ingestion.catalogue import METRICS, SENSORS, Metric, normalise_unit
from ingestion.decoding import MAX_PAYLOAD_BYTES, decode, parse_time
from ingestion.decoding import Defect as _Reject
from ingestion.decoding import number as _number
from ingestion.decoding import show as _show
from ingestion.readings import Reading, Rejection

__all__ = ["MAX_PAYLOAD_BYTES", "MAX_FUTURE_S", "NGSI_PROPERTIES", "REASONS", "Catalogue", "ParseResult", "Validator"]
__all__ += ["parse_time"]

log = logging.getLogger(__name__)

MAX_FUTURE_S = 300.0
SENT_AT_SKEW_S = 2.0
MIN_EVENT_TIME = 946_684_800.0  # 2000-01-01T00:00:00Z: earlier means a device clock that was never set
MAX_EVENT_TIME = 7_258_118_400.0  # 2200-01-01T00:00:00Z: inside pandas' nanosecond range whatever received_at says

# In precedence order (DESIGN §3): of a message's defects, the one whose reason comes first here is reported.
REASONS = (
    "payload_too_large",
    "invalid_encoding",
    "invalid_json",
    "duplicate_key",
    "not_an_object",
    "missing_field",
    "invalid_field",
    "invalid_timestamp",
    "future_timestamp",
    "non_numeric_value",
    "non_finite_value",
    "unknown_unit",
    "out_of_range",
    "unknown_metric",
    "unknown_sensor",
    "internal_error",
    "write_failed",  # not the validator's: the database refused the message (ingestion/service.py isolates it)
)
RANK = {reason: rank for rank, reason in enumerate(REASONS)}

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
    inactive_sensor_ids: frozenset[str] = frozenset()  # deactivated by an operator: rejected, and said so

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
            cur.execute("SELECT sensor_id, active FROM sensors")
            rows = cur.fetchall()
        return cls(
            metrics,
            frozenset(sensor_id for sensor_id, active in rows if active),
            frozenset(sensor_id for sensor_id, active in rows if not active),
        )


@dataclass
class ParseResult:
    readings: list[Reading]
    rejections: list[Rejection]


def _first_present(msg: dict, keys: tuple[str, ...]) -> tuple[str | None, object]:
    """(key, value) of the first key present with a non-null value, (None, None) if there is none."""
    for key in keys:
        if msg.get(key) is not None:
            return key, msg[key]
    return None, None


class _Message:
    """The defects of one message, collected while it is read, and the rejection they make."""

    def __init__(self):
        self.defects: list[tuple[str, str]] = []

    def add(self, reason: str, detail: str) -> None:
        self.defects.append((reason, detail))

    def first(self) -> tuple[str, str]:
        """The reason of highest precedence, its detail followed by the other defects found."""
        ordered = sorted(self.defects, key=lambda d: RANK[d[0]])
        reason, detail = ordered[0]
        others = [f"{r}: {d}" for r, d in ordered[1:]]
        return reason, detail + (f"; also: {'; '.join(others)}" if others else "")


_NO_VALUE = object()  # an NGSI-LD property object without "value"


class Validator:
    def __init__(self, catalogue: Catalogue | None = None, *, source: str = "unknown", clock=_time.time):
        self.catalogue = catalogue or Catalogue.default()
        self.source = source
        self.clock = clock

    def parse(self, payload: bytes | str, *, received_at: float | None = None) -> ParseResult:
        """Readings and rejections of one message; never raises (see the module docstring)."""
        try:
            received_at = self.clock() if received_at is None else received_at
            try:
                message = decode(payload)
                if not isinstance(message, dict):
                    raise _Reject("not_an_object", f"top-level JSON is {_show(message)}, expected an object")
                return self._parse_object(message, payload, received_at)
            except _Reject as rej:
                return ParseResult([], [Rejection(rej.reason, rej.detail, payload, self.source, received_at)])
        except Exception as exc:  # a bug must quarantine the message, not stop the consumer that called us
            log.exception("validation failed on a %s payload: quarantined as internal_error", type(payload).__name__)
            try:
                detail = f"{type(exc).__name__}: {exc}"
            except Exception:
                detail = type(exc).__name__
            when = received_at if isinstance(received_at, int | float) else None
            return ParseResult([], [Rejection("internal_error", detail, payload, self.source, when)])

    # -- shapes ---------------------------------------------------------------------------------------------
    def _parse_object(self, msg: dict, payload, received_at: float) -> ParseResult:
        entity = msg.get("id")
        if "@context" in msg or (isinstance(entity, str) and entity.startswith("urn:") and "type" in msg):
            return self._parse_ngsi(msg, payload, received_at)
        m = _Message()
        sensor_id = self._sensor(msg, m)
        event_time = self._time(msg, m, received_at)
        status = self._device_status(msg, m)
        if "value" in msg:
            metric = self._metric(msg, m)
            unit = msg.get("unit")
            if unit is not None and not isinstance(unit, str):
                m.add("invalid_field", f"unit {_show(unit)} is not a string")
                unit = None
            items = [(metric, msg["value"], unit)]
        else:
            items = [(k, v, None) for k, v in msg.items() if k in self.catalogue.metrics]
            if not items:
                key, metric = _first_present(msg, _METRIC_KEYS)
                if key == "metric" or isinstance(metric, str):
                    m.add("missing_field", f"reading of {_show(metric)} without 'value'")
                else:
                    m.add("missing_field", "no 'value' and no known metric field in the record")
        sent_at = self._sent_at(msg.get("sent_at"), event_time, received_at)
        return self._finish(m, sensor_id, items, event_time, status, sent_at, payload, received_at)

    def _parse_ngsi(self, msg: dict, payload, received_at: float) -> ParseResult:
        m = _Message()
        entity = msg.get("id")
        sensor_id = None
        if entity is None or entity == "":
            m.add("missing_field", "NGSI-LD entity without 'id'")
        elif not isinstance(entity, str):
            m.add("invalid_field", f"NGSI-LD 'id' {_show(entity)} is not a string")
        else:
            sensor_id = entity.rsplit(":", 1)[-1].strip()
            if not sensor_id:
                m.add("missing_field", f"NGSI-LD 'id' {_show(entity)} names no sensor")
                sensor_id = None
        observed = msg.get("dateObserved")
        if isinstance(observed, dict):
            observed = observed.get("value", observed.get("@value"))
        event_time = None
        if observed is None:
            m.add("missing_field", "NGSI-LD entity without 'dateObserved'")
        else:
            event_time = self._checked(observed, m, received_at)
        items = []
        for key, prop in msg.items():
            if key in NGSI_PROPERTIES:
                metric, unit = NGSI_PROPERTIES[key]
                # Normalised ({"type": "Property", "value": ...}) or keyValues (the bare value).
                raw = prop.get("value", _NO_VALUE) if isinstance(prop, dict) else prop
                items.append((metric, raw, unit))
        if not items:
            m.add("missing_field", "NGSI-LD entity without a known property")
        return self._finish(m, sensor_id, items, event_time, "ok", None, payload, received_at)

    def _finish(self, m: _Message, sensor_id, items, event_time, device_status, sent_at, payload, received_at):
        """Readings or rejections: the whole message once if it has a defect of its own (or an unknown sensor),
        else each metric on its own."""
        checked = []
        for metric, raw, unit in items:
            try:
                checked.append((metric, *self._value(metric, raw, unit, device_status)))
            except _Reject as rej:
                checked.append(rej)
        if sensor_id is not None and sensor_id not in self.catalogue.sensor_ids:
            if sensor_id in self.catalogue.inactive_sensor_ids:
                m.add("unknown_sensor", f"sensor {_show(sensor_id)} is deactivated in the catalogue")
            else:
                m.add("unknown_sensor", f"sensor {_show(sensor_id)} is not in the catalogue")
        if m.defects:
            for item in checked:
                if isinstance(item, _Reject):
                    m.add(item.reason, item.detail)
            reason, detail = m.first()
            return ParseResult([], [Rejection(reason, detail, payload, self.source, received_at)])
        readings = [
            Reading(event_time, sensor_id, item[0], item[1], item[2], sent_at)
            for item in checked
            if not isinstance(item, _Reject)
        ]
        rejected = sorted((item for item in checked if isinstance(item, _Reject)), key=lambda r: RANK[r.reason])
        rejections = [Rejection(r.reason, r.detail, payload, self.source, received_at) for r in rejected]
        return ParseResult(readings, rejections)

    # -- fields ---------------------------------------------------------------------------------------------
    def _sensor(self, msg: dict, m: _Message) -> str | None:
        for key in _SENSOR_KEYS:
            raw = msg.get(key)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            if not isinstance(raw, str):
                m.add("invalid_field", f"{key} {_show(raw)} is not a string")
                return None
            return raw.strip()
        m.add("missing_field", "no 'sensor_id' or 'device_id'")
        return None

    def _metric(self, msg: dict, m: _Message) -> str | None:
        key, raw = _first_present(msg, _METRIC_KEYS)
        if key is None or raw == "":
            m.add("missing_field", "single reading without 'metric' or 'type'")
            return None
        if not isinstance(raw, str):
            m.add("invalid_field", f"{key} {_show(raw)} is not a string")
            return None
        return raw

    def _device_status(self, msg: dict, m: _Message) -> str:
        raw = msg.get("status")
        if raw is None:
            return "ok"
        if not isinstance(raw, str):
            m.add("invalid_field", f"status {_show(raw)} is not a string")
            return "ok"
        # An unknown status word is not a defect of the reading: the thresholds still give its status.
        return _DEVICE_STATUS.get(raw.strip().lower(), "ok")

    def _time(self, msg: dict, m: _Message, received_at: float) -> float | None:
        key, raw = _first_present(msg, _TIME_KEYS)
        if key is None:
            m.add("missing_field", "no 'timestamp', 'time' or 'ts'")
            return None
        return self._checked(raw, m, received_at)

    def _checked(self, raw: object, m: _Message, received_at: float) -> float | None:
        try:
            event_time = parse_time(raw)
        except _Reject as rej:
            m.add(rej.reason, rej.detail)
            return None
        if event_time < MIN_EVENT_TIME:
            when = _iso(event_time)
            m.add("invalid_timestamp", f"event time {when} is before 2000-01-01: a device clock that was never set?")
        elif event_time > received_at + MAX_FUTURE_S:
            m.add("future_timestamp", f"event time is {event_time - received_at:.0f}s in the future")
        elif event_time >= MAX_EVENT_TIME:
            m.add("invalid_timestamp", f"event time {_iso(event_time)} is after 2200-01-01")
        else:
            return event_time
        return None

    @staticmethod
    def _sent_at(raw: object, event_time: float | None, received_at: float) -> float | None:
        """The device's send time, only when plausible (module docstring); never a reason to reject."""
        if event_time is None or isinstance(raw, bool) or not isinstance(raw, int | float):
            return None
        try:
            sent_at = parse_time(raw)
        except _Reject:
            return None
        if event_time - SENT_AT_SKEW_S <= sent_at <= received_at + SENT_AT_SKEW_S:
            return sent_at
        return None

    def _value(self, metric, raw, unit, device_status) -> tuple[float, str]:
        """(value in the catalogue unit, status), or _Reject in the precedence value -> unknown metric."""
        label = metric if isinstance(metric, str) else "value"
        if raw is _NO_VALUE:
            raise _Reject("missing_field", f"{label}: NGSI-LD property without 'value'")
        value = _number(raw, label)
        if metric is None:  # the message is rejected for its missing metric; only a defect of the value counts
            return value, "ok"
        definition = self.catalogue.metrics.get(metric)
        if definition is None:
            raise _Reject("unknown_metric", f"metric {_show(metric)} is not in the catalogue")
        if unit is not None and unit.strip() not in ("", definition.unit):
            try:
                value = normalise_unit(metric, unit, value)
            except ValueError as exc:
                raise _Reject("unknown_unit", str(exc)) from None
        if not definition.valid_min <= value <= definition.valid_max:
            if math.isinf(value):
                raise _Reject("out_of_range", f"{metric}: value {_show(raw)} is beyond the range of a double")
            raise _Reject(
                "out_of_range",
                f"{metric}={value:g} outside the valid range [{definition.valid_min:g}, {definition.valid_max:g}]",
            )
        status = definition.status_of(value)
        if _SEVERITY[device_status] > _SEVERITY[status]:
            status = device_status
        return value, status


def _iso(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return f"{epoch:g} (epoch s)"
