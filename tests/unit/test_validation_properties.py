"""Property-based tests of the validation (hypothesis): totality over any input, and the precedence of reasons.

The expectations come from the messages the tests build (the values they carry, the defect they inject, the
reason DESIGN §3 gives it), never from the validator's own arithmetic.
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.catalogue import METRICS
from ingestion.readings import DETAIL_MAX_CHARS, PAYLOAD_MAX_CHARS, SOURCE_MAX_CHARS
from ingestion.validation import MAX_FUTURE_S, REASONS, SENT_AT_SKEW_S, ParseResult, Validator
from tests.data.messages import (
    DEFECTS,
    ITEM_LEVEL,
    MIN_TIME,
    NOW,
    defects_for,
    fields,
    hostile_payloads,
    messages,
    precedence,
)

# A few seconds in CI; VALIDATION_EXAMPLES=5000 for a longer local hunt. No example database: CI starts fresh.
FAST = settings(
    max_examples=int(os.environ.get("VALIDATION_EXAMPLES", 150)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALIDATOR = Validator(source="property-test")


def parse(payload) -> ParseResult:
    return VALIDATOR.parse(payload, received_at=NOW)


def check_total(result: ParseResult) -> None:
    """What must hold for any input: a result, known reasons, insertable text, sane readings."""
    assert isinstance(result, ParseResult)
    assert result.readings or result.rejections
    for rej in result.rejections:
        assert rej.reason in REASONS and rej.reason != "internal_error", rej
        for text, limit in (
            (rej.payload, PAYLOAD_MAX_CHARS),
            (rej.detail, DETAIL_MAX_CHARS),
            (rej.source, SOURCE_MAX_CHARS),
        ):
            assert isinstance(text, str) and len(text) <= limit
            text.encode("utf-8")  # strict: no lone surrogate
            assert "\x00" not in text
        assert rej.detail
    for reading in result.readings:
        definition = METRICS[reading.metric]
        assert isinstance(reading.value, float) and math.isfinite(reading.value)
        assert definition.valid_min <= reading.value <= definition.valid_max
        assert isinstance(reading.time, float) and MIN_TIME <= reading.time <= NOW + MAX_FUTURE_S
        assert reading.status in ("ok", "warning", "critical", "fault")
        if reading.sent_at is not None:
            assert isinstance(reading.sent_at, float)
            assert reading.time - SENT_AT_SKEW_S <= reading.sent_at <= NOW + SENT_AT_SKEW_S


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes(payload):
    check_total(parse(payload))


@FAST
@given(hostile_payloads())
def test_any_payload_of_any_kind(payload):
    check_total(parse(payload))


@FAST
@given(messages())
def test_a_valid_message_gives_the_readings_it_carries(msg):
    result = parse(msg.payload())
    check_total(result)
    assert result.rejections == []
    got = {r.metric: r.value for r in result.readings}
    assert got.keys() == msg.metrics.keys()
    for metric, sent in msg.metrics.items():
        assert math.isclose(got[metric], sent, rel_tol=1e-9, abs_tol=1e-9), metric
    for reading in result.readings:
        assert reading.sensor_id == msg.sensor_id
        assert math.isclose(reading.time, msg.event_time, abs_tol=1e-3)
    if msg.shape == "multi" and msg.get("status") == '"FAULT"':
        assert {r.status for r in result.readings} == {"fault"}


@st.composite
def one_defect(draw):
    msg = draw(messages())
    name = draw(st.sampled_from(defects_for(msg.shape)))
    DEFECTS[name][3](msg, draw)
    return msg, name


@FAST
@given(one_defect())
def test_one_injected_defect_gets_its_reason(case):
    msg, name = case
    _, _, reason, _ = DEFECTS[name]
    result = parse(msg.payload())
    check_total(result)
    assert result.rejections, name
    assert result.rejections[0].reason == reason, (name, result.rejections[0])
    assert len(result.rejections) == 1
    if name not in ITEM_LEVEL or msg.shape == "single":
        assert result.readings == []  # the message is rejected as a whole, once
    else:  # one bad metric of a record: the others are kept
        assert len(result.readings) == len(msg.metrics) - 1


@st.composite
def two_defects(draw):
    msg = draw(messages())
    names = defects_for(msg.shape)
    first = draw(st.sampled_from(names))
    second = draw(st.sampled_from([n for n in names if fields(n).isdisjoint(fields(first))]))
    # A duplicated key is added last, so that the other defect cannot remove or rewrite both copies.
    for name in sorted((first, second), key=lambda n: "dup" in fields(n)):
        DEFECTS[name][3](msg, draw)
    return msg, first, second


@FAST
@given(two_defects())
def test_the_first_reason_in_precedence_wins(case):
    msg, first, second = case
    expected = DEFECTS[min((first, second), key=precedence)][2]
    result = parse(msg.payload())
    check_total(result)
    assert result.rejections[0].reason == expected, (first, second, result.rejections)
    decoded = (fields(first) | fields(second)).isdisjoint({"text", "extra", "dup"})
    if decoded and not {first, second} <= ITEM_LEVEL:
        # Both defects are past decoding and one is the message's own: it is rejected once, listing both.
        assert len(result.rejections) == 1 and not result.readings
        assert "; also: " in result.rejections[0].detail, (first, second, result.rejections)
