"""Hypothesis strategies over the whole message contract of DESIGN §3, valid and hostile.

A message is drawn as a list of (key, JSON text) pairs and written by `render`, so that what Python's json.dumps
cannot write (duplicate keys, 1e400, NaN, a 5,000-digit integer, a lone surrogate escape) can be sent. A valid
message of each shape comes with the catalogue-unit values it carries, and `DEFECTS` lists the ways to break one
field, each with the reason DESIGN §3 gives it: the tests compare with what was injected, not with the code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st

from ingestion.catalogue import METRICS, SENSORS
from ingestion.validation import MAX_FUTURE_S, NGSI_PROPERTIES

NOW = 1_795_000_000.0  # reception time of the property tests (2026-11-18)
MIN_TIME = 946_684_800.0  # 2000-01-01
SENSOR_IDS = [s.sensor_id for s in SENSORS]

# -- JSON literals, valid and hostile ------------------------------------------------------------------------
BIG_INTS = st.sampled_from(["1" + "0" * 400, "-" + "9" * 401, "7" * 5000, "1" + "0" * 309])
OVERFLOWING = st.one_of(BIG_INTS, st.sampled_from(["1e400", "-1e400", "2.5E+999"]))
NON_FINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", '"nan"', '"-inf"', '"Infinity"'])
NASTY_STRINGS = st.sampled_from(
    ['"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"x\\udfff"', '"\\u001f\\u0007"', '"\\ud83d\\ude00"', '""', '"   "']
)
NESTED = st.integers(1, 60).map(lambda d: "[" * d + "]" * d)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
).map(json.dumps)
ANY_LITERAL = st.one_of(
    JSON_SCALARS, OVERFLOWING, NON_FINITE, NASTY_STRINGS, NESTED, st.just("[1, 2]"), st.just('{"v": 1}')
)
# What an extra field or a sent_at may hold in a valid message: anything but a lone surrogate, which is an
# encoding defect wherever it is.
EXTRA_LITERAL = ANY_LITERAL.filter(lambda literal: "\\ud800" not in literal and "\\udfff" not in literal)


def render(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


@dataclass
class Message:
    """A message as (key, literal) pairs; `metrics` the catalogue-unit values of the readings it must give."""

    shape: str  # single | multi | ngsi
    pairs: list[tuple[str, str]]
    metrics: dict[str, float]
    sensor_id: str
    event_time: float
    text_defects: list[str] = field(default_factory=list)  # applied to the text after rendering

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.pairs if k == key), None)

    def set(self, key: str, literal: str | None) -> None:
        """Replace (or, with None, remove) the literal of `key`; add it at the end if absent."""
        if literal is None:
            self.pairs = [(k, v) for k, v in self.pairs if k != key]
        elif any(k == key for k, _ in self.pairs):
            self.pairs = [(k, literal if k == key else v) for k, v in self.pairs]
        else:
            self.pairs.append((key, literal))

    def payload(self) -> bytes:
        text = render(self.pairs)
        for defect in self.text_defects:
            if defect == "not_an_object":
                text = "[" + text + "]"
            elif defect == "truncated":
                text = text[:-1]
        data = text.encode("utf-8")
        if "invalid_utf8" in self.text_defects:
            data = data[:-1] + b', "note": "caf\xff"}'
        return data


def _fraction(draw) -> float:
    return draw(st.floats(0.001, 0.999))


def _in_range(draw, metric: str) -> float:
    m = METRICS[metric]
    return m.valid_min + _fraction(draw) * (m.valid_max - m.valid_min)


def _number_literal(draw, value: float) -> str:
    """A valid number as JSON: a float, or a numeric string (accepted, DESIGN decision)."""
    return draw(st.sampled_from([json.dumps(value), json.dumps(repr(value))]))


@st.composite
def times(draw) -> tuple[float, str]:
    """(epoch seconds, JSON literal) of a valid event time: ISO-8601, epoch seconds or epoch milliseconds."""
    t = draw(st.floats(MIN_TIME + 1, NOW + MAX_FUTURE_S - 1))
    t = round(t, 3)
    kind = draw(st.sampled_from(["iso", "seconds", "ms"]))
    if kind == "iso":
        from datetime import UTC, datetime

        return t, json.dumps(datetime.fromtimestamp(t, UTC).isoformat())
    if kind == "ms":
        return round(t * 1000) / 1000, str(round(t * 1000))
    return t, json.dumps(t)


@st.composite
def messages(draw, shape: str | None = None) -> Message:
    """A valid message of one of the three shapes, with optional extra fields and a sent_at of any kind."""
    shape = shape or draw(st.sampled_from(["single", "multi", "ngsi"]))
    sensor_id = draw(st.sampled_from(SENSOR_IDS))
    event_time, time_literal = draw(times())
    extras = draw(st.lists(st.tuples(st.sampled_from(["building", "floor", "note"]), EXTRA_LITERAL), max_size=2))
    extras = list({k: v for k, v in extras}.items())  # one of each: a duplicate key is a defect of its own
    if shape == "single":
        metric = draw(st.sampled_from(sorted(METRICS)))
        value = _in_range(draw, metric)
        id_key, metric_key = draw(st.sampled_from([("sensor_id", "metric"), ("device_id", "type")]))
        time_key = draw(st.sampled_from(["timestamp", "time", "ts"]))
        pairs = [(time_key, time_literal), (id_key, json.dumps(sensor_id)), (metric_key, json.dumps(metric))]
        pairs.append(("value", _number_literal(draw, value)))
        unit = draw(st.sampled_from([None, "", METRICS[metric].unit]))
        if unit is not None:
            pairs.append(("unit", json.dumps(unit)))
        metrics = {metric: value}
    elif shape == "multi":
        chosen = draw(st.lists(st.sampled_from(sorted(METRICS)), min_size=1, max_size=5, unique=True))
        metrics = {m: _in_range(draw, m) for m in chosen}
        pairs = [
            (draw(st.sampled_from(["timestamp", "time", "ts"])), time_literal),
            ("sensor_id", json.dumps(sensor_id)),
        ]
        pairs += [(m, _number_literal(draw, v)) for m, v in metrics.items()]
        status = draw(st.sampled_from([None, "OK", "WARNING", "FAULT", "weird"]))
        if status is not None:
            pairs.append(("status", json.dumps(status)))
    else:
        by_metric = {}
        for prop, (metric, unit) in NGSI_PROPERTIES.items():
            by_metric.setdefault(metric, (prop, unit))  # one property per metric (sh2 and h2s are both h2s)
        chosen = draw(st.lists(st.sampled_from(sorted(by_metric)), min_size=1, max_size=4, unique=True))
        metrics = {m: _in_range(draw, m) for m in chosen}
        scale = {"0-1": 0.01, "m/s": 1 / 3.6, None: 1.0}
        pairs = [
            ("id", json.dumps(f"urn:ngsi-ld:Observed:{sensor_id}")),
            ("type", '"Observed"'),
            ("@context", '["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]'),
        ]
        wrapped = draw(st.booleans())
        pairs.append(("dateObserved", f'{{"type": "Property", "value": {time_literal}}}' if wrapped else time_literal))
        for m, v in metrics.items():
            prop, unit = by_metric[m]
            pairs.append((prop, f'{{"type": "Property", "value": {json.dumps(v * scale[unit])}}}'))
    pairs += extras
    sent_at = draw(st.one_of(st.none(), st.floats(event_time, max(event_time, NOW)).map(json.dumps), EXTRA_LITERAL))
    if sent_at is not None:
        pairs.append(("sent_at", sent_at))
    return Message(shape, pairs, metrics, sensor_id, event_time)


# -- one defect each, with the reason DESIGN §3 gives it -----------------------------------------------------
def _time_key(msg: Message) -> str:
    return next(k for k, _ in msg.pairs if k in ("timestamp", "time", "ts", "dateObserved"))


def _sensor_key(msg: Message) -> str:
    return next(k for k, _ in msg.pairs if k in ("sensor_id", "device_id", "id"))


def _value_key(msg: Message) -> str:
    """The key of one metric's value (single: "value"; multi: the metric; NGSI: the property)."""
    if msg.shape == "single":
        return "value"
    return next(k for k, _ in msg.pairs if k in METRICS or k in NGSI_PROPERTIES)


def _set_value(msg: Message, literal: str) -> None:
    key = _value_key(msg)
    msg.set(key, f'{{"type": "Property", "value": {literal}}}' if msg.shape == "ngsi" else literal)


def _set_sensor(msg: Message, literal: str) -> None:
    key = _sensor_key(msg)
    if key == "id" and literal.startswith('"'):
        literal = json.dumps("urn:ngsi-ld:Observed:" + json.loads(literal))
    msg.set(key, literal)


def _set_time(msg: Message, literal: str | None) -> None:
    msg.set(_time_key(msg), literal)


def _text(defect: str):
    return lambda msg, draw: msg.text_defects.append(defect)


def _pad(msg: Message, draw) -> None:
    msg.set("padding", json.dumps("p" * draw(st.sampled_from([65_536, 1 << 20]))))


def _duplicate(msg: Message, draw) -> None:
    key, literal = draw(st.sampled_from(msg.pairs))
    msg.pairs.append((key, literal))


# name -> (the field it breaks, shapes it applies to, reason, how to inject it). Two defects on different
# fields must give the reason that comes first in REASONS; a message-level defect rejects the message once.
# A range or a unit can only be judged for a known metric: those defects also occupy the "metric" field.
DEFECTS = {
    "too_large": ("text", "smn", "payload_too_large", _pad),
    "invalid_utf8": ("text", "smn", "invalid_encoding", _text("invalid_utf8")),
    "lone_surrogate": ("extra", "smn", "invalid_encoding", lambda m, d: m.set("note", '"\\ud800"')),
    "truncated": ("text", "smn", "invalid_json", _text("truncated")),
    "duplicate_key": ("dup", "smn", "duplicate_key", _duplicate),
    "not_an_object": ("text", "smn", "not_an_object", _text("not_an_object")),
    "no_sensor": ("sensor", "smn", "missing_field", lambda m, d: m.set(_sensor_key(m), None)),
    "no_time": ("time", "smn", "missing_field", lambda m, d: _set_time(m, None)),
    "no_metric": ("metric", "s", "missing_field", lambda m, d: m.set(m.pairs[2][0], None)),
    "null_value": ("value", "smn", "missing_field", lambda m, d: _set_value(m, "null")),
    "sensor_type": ("sensor", "smn", "invalid_field", lambda m, d: m.set(_sensor_key(m), d(BIG_INTS | NESTED))),
    "metric_type": ("metric", "s", "invalid_field", lambda m, d: m.set(m.pairs[2][0], d(BIG_INTS | NESTED))),
    "unit_type": ("unit", "s", "invalid_field", lambda m, d: m.set("unit", d(st.sampled_from(["1", "[]", "{}"])))),
    "status_type": ("status", "sm", "invalid_field", lambda m, d: m.set("status", d(st.sampled_from(["1", "[]"])))),
    "time_garbage": (
        "time",
        "smn",
        "invalid_timestamp",
        lambda m, d: _set_time(m, d(OVERFLOWING | NESTED | st.sampled_from(['"hier"', "true", "NaN", "0"]))),
    ),
    "time_1999": ("time", "smn", "invalid_timestamp", lambda m, d: _set_time(m, '"1999-12-31T23:59:59Z"')),
    "time_future": ("time", "smn", "future_timestamp", lambda m, d: _set_time(m, json.dumps(NOW + 3600))),
    "value_text": (
        "value",
        "smn",
        "non_numeric_value",
        lambda m, d: _set_value(m, d(st.sampled_from(['"ERR"', "true", "[1]"]))),
    ),
    "value_nan": ("value", "smn", "non_finite_value", lambda m, d: _set_value(m, d(NON_FINITE))),
    "value_range": (
        ("value", "metric"),
        "smn",
        "out_of_range",
        lambda m, d: _set_value(m, d(OVERFLOWING | st.just("-300000"))),
    ),
    "unit_unknown": (("unit", "metric"), "s", "unknown_unit", lambda m, d: m.set("unit", '"furlongs"')),
    "metric_unknown": ("metric", "s", "unknown_metric", lambda m, d: m.set(m.pairs[2][0], '"radon"')),
    "sensor_unknown": ("sensor", "smn", "unknown_sensor", lambda m, d: _set_sensor(m, '"mq-nowhere-99"')),
}


def fields(name: str) -> set[str]:
    field_ = DEFECTS[name][0]
    return {field_} if isinstance(field_, str) else set(field_)


# Defects of one reading (a value, or the unit or metric it is read in): the others reject the whole message.
ITEM_LEVEL = {"null_value", "value_text", "value_nan", "value_range", "unit_unknown", "metric_unknown"}


def precedence(name: str) -> float:
    """Where a defect's reason stands in REASONS; a lone surrogate escape can only be seen in a string once the
    JSON parses, so it comes after invalid_json (and before duplicate_key)."""
    from ingestion.validation import REASONS

    if name == "lone_surrogate":
        return REASONS.index("invalid_json") + 0.5
    return REASONS.index(DEFECTS[name][2])


SHAPE_LETTER = {"single": "s", "multi": "m", "ngsi": "n"}


def defects_for(shape: str) -> list[str]:
    return [name for name, (_, shapes, _, _) in DEFECTS.items() if SHAPE_LETTER[shape] in shapes]


# -- whole payloads of any kind, for the tests that only check totality ----------------------------------------
@st.composite
def hostile_payloads(draw) -> bytes | str:
    """Raw bytes, arbitrary JSON, or a message of the contract with any field replaced by any literal."""
    kind = draw(st.sampled_from(["bytes", "text", "json", "message", "broken"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":  # str payloads, surrogates and NUL included
        chars = st.characters(codec=None, exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00", "{"])
        return "".join(draw(st.lists(chars, max_size=200)))
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                max_leaves=20,
            )
        )
        return json.dumps(value)
    msg = draw(messages())
    if kind == "broken":
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from([k for k, _ in msg.pairs]))
            msg.set(key, draw(ANY_LITERAL))
    return msg.payload()
