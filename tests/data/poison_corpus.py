"""Hostile messages and the reason each must be quarantined with (DESIGN §3, issue 8).

`CORPUS`: (name, payload, expected reason of the first rejection), every payload distinct (the quarantine stores
a repeated rejection once). `REJECTIONS[name]` is how many rejections the message gives (1 unless said) and
`KEPT[name]` how many of its readings are stored (0 unless said). `ACCEPTED_HOSTILE`: (name, payload, readings
stored) for messages whose hostile parts must be ignored, not rejected (an implausible sent_at, deep or odd extra
fields). Times are fixed in the past (2026-06) or far from now (1970, 2099), so the expected reasons hold at any
reception time between mid-2026 and 2099; each accepted reading has its own (sensor, metric, time).
"""

from __future__ import annotations

import json

from ingestion.catalogue import SENSORS

AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
ENV = next(s.sensor_id for s in SENSORS if "temperature" in s.metrics and "co2" in s.metrics)
UNKNOWN = "mq-nowhere-99"
T = "2026-06-01T12:00:{:02d}Z"  # one second per case that keeps readings, so none is a duplicate of another


def single(n: int, *, sensor: str = AQ, value: str = "22.5", extra: str = "", **fields: str) -> bytes:
    """A single reading as JSON text, `value` and `fields` given as JSON literals (so that 1e400, NaN or a
    401-digit integer can be written), `n` making the payload unique."""
    parts = {
        "timestamp": json.dumps(T.format(n % 60)),
        "sensor_id": json.dumps(sensor),
        "metric": '"pm10"',
        "value": value,
        "unit": '"µg/m³"',
        "seq": str(n),
    }
    parts.update(fields)
    body = ", ".join(f'"{k}": {v}' for k, v in parts.items() if v is not None)
    return ("{" + body + extra + "}").encode("utf-8")


def without(n: int, key: str, **fields: str) -> bytes:
    return single(n, **{key: None}, **fields)


def ngsi(n: int, **props: object) -> bytes:
    entity = {
        "id": f"urn:ngsi-ld:WeatherObserved:{WX}",
        "type": "WeatherObserved",
        "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
        "dateObserved": {"type": "Property", "value": T.format(n % 60)},
        "temperature": {"type": "Property", "value": 27.5},
        "seq": n,
    }
    entity.update(props)
    return json.dumps({k: v for k, v in entity.items() if v is not None}).encode("utf-8")


BIG = "1" + "0" * 400  # a 401-digit integer: float() of it overflows
HUGE = "9" * 5000  # beyond Python's 4,300-digit int limit

CORPUS: list[tuple[str, bytes, str]] = [
    # -- numbers a double cannot hold, and non-finite ones
    ("value_401_digit_integer", single(1, value=BIG), "out_of_range"),
    ("value_5000_digit_integer", single(2, value=HUGE), "out_of_range"),
    ("value_negative_401_digits", single(3, value="-" + BIG), "out_of_range"),
    ("value_1e400", single(4, value="1e400"), "out_of_range"),
    ("value_minus_1e400", single(5, value="-1e400"), "out_of_range"),
    ("value_numeric_string_5000_digits", single(6, value=f'"{HUGE}"'), "out_of_range"),
    ("value_nan_literal", single(7, value="NaN"), "non_finite_value"),
    ("value_infinity_literal", single(8, value="Infinity"), "non_finite_value"),
    ("value_minus_infinity_literal", single(9, value="-Infinity"), "non_finite_value"),
    ("value_nan_string", single(10, value='"nan"'), "non_finite_value"),
    ("value_err_string", single(11, value='"ERR"'), "non_numeric_value"),
    ("value_bool", single(12, value="true"), "non_numeric_value"),
    ("value_list", single(13, value="[1, 2]"), "non_numeric_value"),
    ("value_object", single(14, value='{"v": 1}'), "non_numeric_value"),
    ("value_null", single(15, value="null"), "missing_field"),
    ("value_minus_300", single(16, value="-300"), "out_of_range"),
    ("value_unicode_digits", single(17, value='"١٢"'), "non_numeric_value"),
    # -- bytes that are not JSON text
    ("nul_bytes_2000", b"\x00" * 2000, "invalid_json"),
    ("nul_bytes_inside_object", single(18).replace(b'"seq"', b'\x00\x00"seq"'), "invalid_json"),
    ("raw_control_char_in_string", single(19, note='"a\x01b"'), "invalid_json"),
    ("invalid_utf8_byte", single(20).replace(b'"seq"', b'"caf\xff", "seq"'), "invalid_encoding"),
    ("utf8_encoded_surrogate", single(21).replace(b'"seq"', b'"\xed\xa0\x80", "seq"'), "invalid_encoding"),
    ("latin1_payload", single(22, note='"été"').decode("utf-8").encode("latin-1"), "invalid_encoding"),
    ("lone_high_surrogate_in_sensor_id", single(23, sensor_id='"mq-fdf-aq-01\\ud800"'), "invalid_encoding"),
    ("lone_low_surrogate_in_extra_field", single(24, note='"\\udc00x"'), "invalid_encoding"),
    ("deep_array_nesting", b"[" * 30_000 + b"]" * 30_000, "invalid_json"),
    ("deep_object_nesting", single(25, extra=', "deep": ' + '{"a":' * 10_000 + "1" + "}" * 10_000), "invalid_json"),
    ("empty_payload", b"", "invalid_json"),
    ("whitespace_payload", b" \n\t ", "invalid_json"),
    ("truncated_json", single(26)[:-1], "invalid_json"),
    ("utf8_bom_prefix", b"\xef\xbb\xbf" + single(27), "invalid_json"),
    ("payload_1_mib", single(28, pad=json.dumps("x" * (1 << 20))), "payload_too_large"),
    ("payload_just_over_64_kib", single(29, pad=json.dumps("y" * 65_536)), "payload_too_large"),
    ("duplicate_value_key", single(30, extra=', "value": 23.5'), "duplicate_key"),
    (
        "duplicate_key_in_ngsi_property",
        ngsi(31).replace(b'"value": 27.5', b'"value": 27.5, "value": 99'),
        "duplicate_key",
    ),
    # -- not an object
    ("top_level_array", b'[{"sensor_id": "' + AQ.encode() + b'"}]', "not_an_object"),
    ("top_level_string", b'"hello"', "not_an_object"),
    ("top_level_number", b"42", "not_an_object"),
    ("top_level_null", b"null", "not_an_object"),
    # -- shape: missing fields and wrong types
    ("missing_timestamp", without(32, "timestamp"), "missing_field"),
    ("missing_sensor", without(33, "sensor_id"), "missing_field"),
    ("missing_metric", without(34, "metric"), "missing_field"),
    ("missing_value", without(35, "value"), "missing_field"),
    ("empty_sensor_id", single(36, sensor_id='"  "'), "missing_field"),
    ("sensor_id_list", single(37, sensor_id=f'["{AQ}"]'), "invalid_field"),
    ("sensor_id_number", single(38, sensor_id=BIG), "invalid_field"),
    ("sensor_id_bool", single(39, sensor_id="false"), "invalid_field"),
    ("metric_list", single(40, metric='["pm10"]'), "invalid_field"),
    ("metric_object", single(41, metric='{"name": "pm10"}'), "invalid_field"),
    ("unit_list", single(42, unit='["µg/m³"]'), "invalid_field"),
    ("status_object", single(43, status='{"code": 1}'), "invalid_field"),
    # -- time
    ("timestamp_list", single(44, timestamp="[2026, 6, 1]"), "invalid_timestamp"),
    ("timestamp_bool", single(45, timestamp="true"), "invalid_timestamp"),
    ("timestamp_nan", single(46, timestamp="NaN"), "invalid_timestamp"),
    ("timestamp_401_digits", single(47, timestamp=BIG), "invalid_timestamp"),
    ("timestamp_1e400", single(48, timestamp="1e400"), "invalid_timestamp"),
    ("timestamp_epoch_zero", single(49, timestamp="0"), "invalid_timestamp"),
    ("timestamp_1999_clock_never_set", single(50, timestamp='"1999-12-31T23:59:59Z"'), "invalid_timestamp"),
    ("timestamp_garbage", single(51, timestamp='"hier vers midi"'), "invalid_timestamp"),
    ("timestamp_2099", single(52, timestamp='"2099-01-01T00:00:00Z"'), "future_timestamp"),
    # -- the cases: the real defect, not the unknown sensor, comes first
    ("unknown_sensor_and_nan", single(53, sensor=UNKNOWN, value="NaN"), "non_finite_value"),
    ("unknown_sensor_and_err", single(54, sensor=UNKNOWN, value='"ERR"'), "non_numeric_value"),
    ("unknown_sensor_and_2099", single(55, sensor=UNKNOWN, timestamp='"2099-06-01T00:00:00Z"'), "future_timestamp"),
    ("unknown_sensor_and_minus_300", single(56, sensor=UNKNOWN, value="-300"), "out_of_range"),
    ("unknown_sensor_no_timestamp", without(57, "timestamp", sensor_id=f'"{UNKNOWN}"'), "missing_field"),
    ("unknown_sensor_and_unknown_metric", single(58, sensor=UNKNOWN, metric='"radon"'), "unknown_metric"),
    ("unknown_metric_and_err", single(59, metric='"radon"', value='"ERR"'), "non_numeric_value"),
    ("unknown_sensor", single(60, sensor=UNKNOWN), "unknown_sensor"),
    ("unknown_sensor_with_nul", single(61, sensor_id='"mq-fdf-aq-01\\u0000"'), "unknown_sensor"),
    ("unknown_sensor_60_kib", single(62, sensor_id=json.dumps("z" * 60_000)), "unknown_sensor"),
    ("unknown_metric", single(63, metric='"radon"'), "unknown_metric"),
    ("unknown_unit", single(64, unit='"furlongs"'), "unknown_unit"),
    # -- NGSI-LD entities with broken parts
    ("ngsi_without_id", ngsi(65, id=None), "missing_field"),
    ("ngsi_id_number", ngsi(66).replace(f'"urn:ngsi-ld:WeatherObserved:{WX}"'.encode(), b"12345"), "invalid_field"),
    ("ngsi_without_date", ngsi(67, dateObserved=None), "missing_field"),
    ("ngsi_date_object_without_value", ngsi(68, dateObserved={"type": "Property"}), "missing_field"),
    ("ngsi_property_without_value", ngsi(69, temperature={"type": "Property"}), "missing_field"),
    ("ngsi_property_value_list", ngsi(70, temperature={"type": "Property", "value": [27.5]}), "non_numeric_value"),
    ("ngsi_property_nan", ngsi(71).replace(b'"value": 27.5', b'"value": NaN'), "non_finite_value"),
    ("ngsi_no_known_property", ngsi(72, temperature=None), "missing_field"),
    ("ngsi_unknown_sensor", ngsi(73, id="urn:ngsi-ld:WeatherObserved:" + UNKNOWN), "unknown_sensor"),
    # -- multi-metric records: the good metrics are kept, each bad one is its own rejection
    (
        "multi_mixed_good_and_bad",
        json.dumps(
            {"ts": T.format(74 % 60), "sensor_id": ENV, "temperature": 26.0, "humidity": 250, "co2": "x"}
        ).encode(),
        "non_numeric_value",
    ),
    (
        "multi_all_bad",
        b'{"ts": "' + T.format(75 % 60).encode() + b'", "sensor_id": "' + ENV.encode() + b'", '
        b'"temperature": NaN, "humidity": -1, "co2": ' + BIG.encode() + b"}",
        "non_finite_value",
    ),
    (
        "multi_unknown_sensor_bad_humidity",
        json.dumps({"ts": T.format(76 % 60), "sensor_id": UNKNOWN, "temperature": 26.0, "humidity": 250}).encode(),
        "out_of_range",
    ),
]
REJECTIONS = {"multi_mixed_good_and_bad": 2, "multi_all_bad": 3}
KEPT = {"multi_mixed_good_and_bad": 1}

ACCEPTED_HOSTILE: list[tuple[str, bytes, int]] = [
    ("sent_at_401_digits", single(77, sent_at=BIG), 1),
    ("sent_at_5000_digits", single(78, sent_at=HUGE), 1),
    ("sent_at_nan", single(79, sent_at="NaN"), 1),
    ("sent_at_1e400", single(80, sent_at="1e400"), 1),
    ("sent_at_list", single(81, sent_at="[1]"), 1),
    ("sent_at_before_event", single(82, sent_at="1000000000"), 1),
    ("sent_at_far_future", single(83, sent_at="4102444800"), 1),
    ("extra_field_nested_50_deep", single(84, extra=', "deep": ' + "[" * 50 + "]" * 50), 1),
    ("extra_field_with_nul_escape", single(85, note='"a\\u0000b"'), 1),
    ("extra_field_astral_and_controls", single(86, note='"\\ud83d\\ude00 \\u0001\\u001f"'), 1),
    ("unknown_status_word", single(87, status='"BROKEN"'), 1),
    ("ngsi_key_values_property", ngsi(88, temperature=26.5), 1),
]
