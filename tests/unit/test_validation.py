"""Validation rules without a database."""

import json
from datetime import UTC, datetime

import pytest

from ingestion.catalogue import SENSORS
from ingestion.readings import DETAIL_MAX_CHARS, PAYLOAD_MAX_CHARS, SOURCE_MAX_CHARS, Rejection
from ingestion.validation import REASONS, ParseResult, Validator, parse_time

NOW = 1_795_000_000.0
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")


def parse(message):
    payload = message if isinstance(message, str) else json.dumps(message)
    return Validator(source="t").parse(payload, received_at=NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22T10:00:00Z", 1795341600.0),
        ("2026-11-22T06:00:00-04:00", 1795341600.0),
        ("2026-11-22T10:00:00", 1795341600.0),  # naive = UTC
        (1795341600, 1795341600.0),
        (1795341600000, 1795341600.0),  # milliseconds
    ],
)
def test_time_formats(raw, expected):
    assert parse_time(raw) == expected


def test_unit_aliases_are_converted():
    single = parse({"ts": NOW, "sensor_id": WX, "metric": "temperature", "value": 86, "unit": "°F"})
    assert single.readings[0].value == pytest.approx(30.0)
    wind = parse({"ts": NOW, "sensor_id": WX, "metric": "wind_speed", "value": 10, "unit": "m/s"})
    assert wind.readings[0].value == pytest.approx(36.0)
    unknown = parse({"ts": NOW, "sensor_id": WX, "metric": "temperature", "value": 20, "unit": "furlongs"})
    assert unknown.rejections[0].reason == "unknown_unit"


def test_ngsi_ld_entity():
    entity = {
        "id": f"urn:ngsi-ld:WeatherObserved:{WX}",
        "type": "WeatherObserved",
        "dateObserved": {"type": "Property", "value": "2026-11-22T10:00:00Z"},
        "temperature": {"type": "Property", "value": 27.5},
        "relativeHumidity": {"type": "Property", "value": 0.78},
        "windSpeed": {"type": "Property", "value": 5},
    }
    result = Validator(source="t").parse(json.dumps(entity), received_at=1795341600.0)
    values = {r.metric: r.value for r in result.readings}
    assert values == {"temperature": 27.5, "humidity": pytest.approx(78.0), "wind_speed": pytest.approx(18.0)}
    assert not result.rejections


def test_status_follows_thresholds_and_device_fault():
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": 60}).readings[0].status == "warning"
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": 90}).readings[0].status == "critical"
    fault = parse({"ts": NOW, "sensor_id": AQ, "pm10": 20, "status": "FAULT"})
    assert fault.readings[0].status == "fault"


def test_extra_fields_do_not_reject_and_bools_are_not_numbers():
    ok = parse({"ts": NOW, "device_id": AQ, "type": "pm10", "value": "12.5", "building": "A", "floor": 2})
    assert ok.readings[0].value == 12.5
    assert parse({"ts": NOW, "sensor_id": AQ, "metric": "pm10", "value": True}).rejections[0].reason == (
        "non_numeric_value"
    )


def test_not_an_object_and_reasons_are_known():
    assert parse("[1, 2, 3]").rejections[0].reason == "not_an_object"
    for message in ("{", "[]", json.dumps({"sensor_id": AQ})):
        assert all(r.reason in REASONS for r in parse(message).rejections)


# --- issue 8: validation that cannot raise ------------------------------------------------------------------
def raw(text: str) -> ParseResult:
    """Parse JSON text as written (so that NaN, 1e400 and 401-digit integers can be sent)."""
    return Validator(source="t").parse(text.encode("utf-8"), received_at=NOW)


def reading_text(value="12.5", ts=None, sensor=AQ, **extra) -> str:
    ts = json.dumps(NOW - 5) if ts is None else ts
    fields = "".join(f', "{k}": {v}' for k, v in extra.items())
    return f'{{"ts": {ts}, "sensor_id": "{sensor}", "metric": "pm10", "value": {value}{fields}}}'


BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (reading_text(value=BIG), "out_of_range"),  # was an OverflowError in _number
        (reading_text(value="9" * 5000), "out_of_range"),  # past int's 4,300 digits: was a ValueError
        (reading_text(value="1e400"), "out_of_range"),
        (reading_text(value="-1e400"), "out_of_range"),
        (reading_text(value="NaN"), "non_finite_value"),
        (reading_text(value="-Infinity"), "non_finite_value"),
        (reading_text(ts=BIG), "invalid_timestamp"),
        (reading_text(ts="1e400"), "invalid_timestamp"),
        (reading_text(ts="NaN"), "invalid_timestamp"),
    ],
)
def test_numbers_a_double_cannot_hold_are_rejected_not_raised(text, reason):
    result = raw(text)
    assert [r.reason for r in result.rejections] == [reason] and result.readings == []


def test_a_huge_sent_at_is_dropped_and_the_reading_kept():
    for sent_at in (BIG, "9" * 5000, "1e400", "NaN", '"yesterday"', "[1]", "true"):
        result = raw(reading_text(sent_at=sent_at))
        assert [(r.value, r.sent_at) for r in result.readings] == [(12.5, None)], sent_at


def test_sent_at_is_kept_only_when_plausible():
    event = NOW - 60

    def sent_at_of(sent_at):
        return raw(reading_text(ts=json.dumps(event), sent_at=json.dumps(sent_at))).readings[0].sent_at

    assert sent_at_of(event + 1) == event + 1
    assert sent_at_of(NOW) == NOW
    assert sent_at_of((NOW - 10) * 1000) == NOW - 10  # milliseconds, like the event time
    assert sent_at_of(event - 3600) is None  # sent before it was measured
    assert sent_at_of(NOW - 290_830.0) is None  # the 290,830 ms "broker stage" came from such a value
    assert sent_at_of(NOW + 3600) is None  # sent after it was received


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"value": "NaN"}, "non_finite_value"),
        ({"value": '"ERR"'}, "non_numeric_value"),
        ({"ts": '"2099-01-01T00:00:00Z"'}, "future_timestamp"),
        ({"value": "-300"}, "out_of_range"),
        ({"ts": None}, "missing_field"),
        ({}, "unknown_sensor"),
    ],
)
def test_an_unknown_sensor_does_not_hide_the_real_defect(extra, reason):
    message = {"ts": NOW - 5, "sensor_id": "mq-nowhere-99", "metric": "pm10", "value": 12.5}
    text = ", ".join(f'"{k}": {extra.get(k, json.dumps(v))}' for k, v in message.items() if extra.get(k, 0) is not None)
    result = raw("{" + text + "}")
    assert [r.reason for r in result.rejections] == [reason]
    if reason != "unknown_sensor":
        assert "unknown_sensor" in result.rejections[0].detail  # the other defect is listed


def test_two_thousand_nul_bytes_give_an_insertable_rejection():
    rejection = Validator(source="t").parse(b"\x00" * 2000, received_at=NOW).rejections[0]
    assert rejection.reason == "invalid_json"
    assert "\x00" not in rejection.payload and len(rejection.payload) <= PAYLOAD_MAX_CHARS
    assert rejection.payload.startswith("\\x00\\x00") and rejection.payload.endswith("8000 chars]")


def test_invalid_utf8_has_its_own_reason_and_is_shown_as_escapes():
    result = Validator(source="t").parse(b'{"ts": 1, "note": "caf\xe9"}', received_at=NOW)
    assert result.rejections[0].reason == "invalid_encoding"
    assert result.rejections[0].payload == '{"ts": 1, "note": "caf\\xe9"}'


def test_lone_surrogates_and_duplicate_keys():
    lone = raw(reading_text(note='"\\ud800"'))
    assert lone.rejections[0].reason == "invalid_encoding"
    assert raw(reading_text(note='"\\ud83d\\ude00"')).readings  # a valid pair is a character
    assert raw(reading_text(note='"\\\\ud800"')).readings  # an escaped backslash, not a surrogate
    text_with_surrogate = Validator(source="t").parse(reading_text().replace("pm10", "pm10\ud800"))
    assert text_with_surrogate.rejections[0].reason == "invalid_encoding"
    assert "\\ud800" in text_with_surrogate.rejections[0].payload
    duplicate = raw(reading_text().replace('"ts"', '"value": 1, "ts"'))
    assert duplicate.rejections[0].reason == "duplicate_key"


def test_deep_nesting_and_non_objects():
    assert raw("[" * 100_000).rejections[0].reason == "payload_too_large"  # the size is checked first
    assert raw("[" * 50_000 + "]" * 10).rejections[0].reason == "invalid_json"
    assert raw(reading_text(deep="[" * 40 + "]" * 40)).readings  # deep extra fields are only extra fields
    for text in ("null", "42", '"x"', "[]", "true"):
        assert raw(text).rejections[0].reason == "not_an_object"


@pytest.mark.parametrize(
    ("field", "literal", "reason"),
    [
        ("sensor_id", "[1]", "invalid_field"),
        ("sensor_id", "12", "invalid_field"),
        ("sensor_id", '""', "missing_field"),
        ("metric", '{"a": 1}', "invalid_field"),
        ("metric", "true", "invalid_field"),
        ("unit", "[]", "invalid_field"),
        ("status", "3", "invalid_field"),
        ("ts", "[]", "invalid_timestamp"),
        ("ts", "false", "invalid_timestamp"),
        ("ts", '"' + "9" * 100 + '"', "invalid_timestamp"),
        ("ts", "0", "invalid_timestamp"),
        ("ts", '"1999-12-31T23:59:59Z"', "invalid_timestamp"),
        ("value", "null", "missing_field"),
        ("value", "[12.5]", "non_numeric_value"),
        ("value", '{"v": 1}', "non_numeric_value"),
        ("value", '"1_000"', "non_numeric_value"),  # float() would take it; a device would not mean it
    ],
)
def test_wrong_types_in_every_field(field, literal, reason):
    message = {"ts": json.dumps(NOW - 5), "sensor_id": f'"{AQ}"', "metric": '"pm10"', "value": "12.5"}
    message[field] = literal
    result = raw("{" + ", ".join(f'"{k}": {v}' for k, v in message.items()) + "}")
    assert [r.reason for r in result.rejections] == [reason], result.rejections


def test_a_device_clock_never_set_is_named_in_the_detail():
    detail = raw(reading_text(ts="86400")).rejections[0].detail
    assert "before 2000-01-01" in detail and "never set" in detail


def test_accepted_times_convert_to_pandas_and_postgres():
    import pandas as pd

    for ts in (
        '"2000-01-01T00:00:00Z"',
        json.dumps(NOW + 299),
        json.dumps((NOW - 1) * 1000),
        '"2026-11-18T06:00:00-04:00"',
    ):
        (reading,) = raw(reading_text(ts=ts)).readings
        assert pd.Timestamp(reading.time, unit="s", tz="UTC").year in (2000, 2026)


def test_one_mebibyte_payload():
    result = raw(reading_text(pad=json.dumps("x" * (1 << 20))))
    assert result.rejections[0].reason == "payload_too_large"
    assert len(result.rejections[0].payload) <= PAYLOAD_MAX_CHARS


def test_ngsi_entities_with_broken_properties():
    entity = {
        "id": f"urn:ngsi-ld:WeatherObserved:{WX}",
        "type": "WeatherObserved",
        "dateObserved": "2026-11-18T06:00:00Z",
        "temperature": {"type": "Property", "value": 27.5},
        "relativeHumidity": {"type": "Property"},  # no value
        "windSpeed": {"type": "Property", "value": [5]},
        "atmosphericPressure": 1013.0,  # keyValues form: the bare value
    }
    result = Validator(source="t").parse(json.dumps(entity), received_at=NOW)
    assert {r.metric: r.value for r in result.readings} == {"temperature": 27.5, "pressure": 1013.0}
    assert [r.reason for r in result.rejections] == ["missing_field", "non_numeric_value"]
    clean = {k: entity[k] for k in ("id", "type", "dateObserved", "temperature")} | {"@context": []}
    for broken, reason in (({"id": 7}, "invalid_field"), ({"dateObserved": {"type": "Property"}}, "missing_field")):
        result = Validator(source="t").parse(json.dumps({**clean, **broken}), received_at=NOW)
        assert [r.reason for r in result.rejections] == [reason] and not result.readings


def test_multi_metric_records_keep_the_good_metrics():
    text = f'{{"ts": {NOW - 5}, "sensor_id": "mq-fdf-env-01", "temperature": 26.0, "humidity": 250, "co2": NaN}}'
    result = raw(text)
    assert [(r.metric, r.value) for r in result.readings] == [("temperature", 26.0)]
    assert [r.reason for r in result.rejections] == ["non_finite_value", "out_of_range"]


def test_a_bug_is_quarantined_as_internal_error_not_raised(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    validator = Validator(source="t")
    monkeypatch.setattr(validator, "_parse_object", broken)
    with caplog.at_level("ERROR", logger="ingestion.validation"):
        result = validator.parse(reading_text().encode(), received_at=NOW)
    assert [r.reason for r in result.rejections] == ["internal_error"]
    assert "ZeroDivisionError: a bug" in result.rejections[0].detail
    assert "internal_error" in caplog.text


def test_the_poison_corpus_gets_its_expected_reasons():
    from tests.data.poison_corpus import ACCEPTED_HOSTILE, CORPUS, KEPT, REJECTIONS

    assert len(CORPUS) >= 40
    payloads = [p for _, p, _ in CORPUS] + [p for _, p, _ in ACCEPTED_HOSTILE]
    assert len(set(payloads)) == len(payloads)
    validator = Validator(source="corpus")  # the real clock: the corpus is meant for live traffic
    for name, payload, reason in CORPUS:
        result = validator.parse(payload)
        assert [r.reason for r in result.rejections][:1] == [reason], (name, result.rejections)
        assert len(result.rejections) == REJECTIONS.get(name, 1), name
        assert len(result.readings) == KEPT.get(name, 0), name
    for name, payload, kept in ACCEPTED_HOSTILE:
        result = validator.parse(payload)
        assert result.rejections == [] and len(result.readings) == kept, (name, result)
        assert all(r.sent_at is None or abs(r.sent_at - r.time) < 1e9 for r in result.readings)


# --- Rejection: valid PostgreSQL text first, bounded after ----------------------------------------------------
def test_rejection_text_is_valid_then_bounded():
    rej = Rejection("invalid_json", "d\x00" * 900, b"\x00\xff" * 3000, source="s\udcff" * 40, received_at=NOW)
    for text in (rej.payload, rej.detail, rej.source):
        text.encode("utf-8")
        assert "\x00" not in text
    assert rej.payload.startswith("\\x00\\xff\\x00\\xff")
    assert len(rej.payload) <= PAYLOAD_MAX_CHARS < 8192
    assert len(rej.detail) == DETAIL_MAX_CHARS and len(rej.source) == SOURCE_MAX_CHARS
    assert rej.db_row() == (datetime.fromtimestamp(NOW, UTC), rej.source, rej.payload, "invalid_json", rej.detail)
    # Bounding is idempotent: a rejection rebuilt from a stored row (the Spark sink does) is unchanged.
    again = Rejection(rej.reason, rej.detail, rej.payload, rej.source, rej.received_at)
    assert (again.payload, again.detail, again.source) == (rej.payload, rej.detail, rej.source)


def test_long_payloads_sharing_a_prefix_stay_distinct():
    a = Rejection("payload_too_large", "d", "x" * 70_000 + "a").payload
    b = Rejection("payload_too_large", "d", "x" * 70_000 + "b").payload
    assert a != b and a[:4096] == b[:4096] and a.endswith("70001 chars]")


def test_an_impossible_received_at_becomes_now():
    for when in (None, float("nan"), float("inf"), -1.0, 1e300):
        row = Rejection("invalid_json", "d", "p", received_at=when).db_row(now=NOW)
        assert row[0] == datetime.fromtimestamp(NOW, UTC)
