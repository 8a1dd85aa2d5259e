"""Properties of the broker stamp, untrusted input from Kafka headers (anyone can produce one): reading it never
raises, and whatever it says, the batch's broker instant is plausible (within [event time - skew, received_at +
skew], the rule of sent_at) or falls back to the device's sent_at — no absurd source_to_broker is ever recorded."""

import math
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.kafka_consumer import BROKER_AT_HEADER, broker_time
from ingestion.processor import LiteProcessor
from ingestion.simulator import Simulator
from ingestion.validation import SENT_AT_SKEW_S, Validator

header_values = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
    st.integers(min_value=-(10**400), max_value=10**400).map(lambda i: str(i).encode()),
)
headers = st.lists(st.tuples(st.sampled_from([BROKER_AT_HEADER, "mqtt_topic", "x"]), header_values), max_size=4)
timestamps = st.tuples(st.integers(0, 2), st.integers(-(2**63), 2**63 - 1))


@given(headers, timestamps)
def test_reading_the_stamp_never_raises_and_is_finite_or_none(hdrs, timestamp):
    stamp = broker_time(hdrs, timestamp)
    assert stamp is None or math.isfinite(stamp)


def test_the_header_wins_over_the_record_timestamp():
    assert broker_time([("mqtt_topic", b"t"), (BROKER_AT_HEADER, b"1796163003.614000")], (1, 5_000)) == 1796163003.614
    assert broker_time([(BROKER_AT_HEADER, b"garbage")], (1, 5_000)) == 5.0
    assert broker_time(None, (0, 5_000)) is None  # no header, no timestamp available


EVENT = time.time() - 60
MESSAGES = Simulator(seed=3, fmt="multi").tick(EVENT)[:5]


@settings(max_examples=200)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=5, max_size=5))
def test_whatever_the_stamp_the_broker_instant_is_plausible(stamps):
    processor = LiteProcessor(None, Validator(source="kafka"))  # build() validates only: no writer needed
    received_at = EVENT + 5
    batch = processor.build([(m, received_at, s) for m, s in zip(MESSAGES, stamps, strict=True)], source="kafka")
    assert batch.timings is not None
    assert EVENT - SENT_AT_SKEW_S <= batch.timings.broker <= received_at + SENT_AT_SKEW_S
