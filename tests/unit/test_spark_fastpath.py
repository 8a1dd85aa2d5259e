"""The Spark tasks' columnar fast path (ingestion/spark/fastpath.py) against the lite processor: the same messages
give the same Batch (frame row for row, rejections with their reasons and details, timings) through
FastBuilder.build as through LiteProcessor.build, whatever mix of canonical and defective messages a chunk holds;
and canonical messages really take the fast path (else the equivalence would be the slow path's, trivially)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ingestion.catalogue import METRICS, SENSORS
from ingestion.processor import LiteProcessor
from ingestion.simulator import Simulator
from ingestion.spark.fastpath import FastBuilder
from ingestion.spark.partition import Messages, digest, digest_of
from ingestion.validation import Catalogue, Validator

NOW = 1_793_000_000.0
KNOWN = sorted(s.sensor_id for s in SENSORS)
INACTIVE = KNOWN[-1]
CATALOGUE = Catalogue(dict(METRICS), frozenset(KNOWN[:-1]), frozenset({INACTIVE}))


def both(rows: list[tuple], source: str = "files"):
    """Both builds of the same rows; a None payload is a Kafka tombstone: null in Arrow, the empty message for the
    lite processor (partition.messages_of)."""
    validator = Validator(CATALOGUE, source=source)
    lite_rows = [(r[0] if r[0] is not None else b"", *r[1:]) for r in rows]
    lite = LiteProcessor(None, validator).build(lite_rows, source=source)
    builder = FastBuilder(validator)
    broker = np.array([math.nan if r[2] is None else r[2] for r in rows], dtype="float64")
    messages = Messages(pa.chunked_array([pa.array([r[0] for r in rows], pa.binary())]),
                        np.array([r[1] for r in rows], dtype="float64"), broker, source)  # fmt: skip
    # NaN is how Messages holds "no broker instant" (the lite path's None; a NaN or inf is not plausible either way).
    assert messages.rows == [(p, r, None if b is None or math.isnan(b) else b) for p, r, b in lite_rows]
    fast = builder.build(messages)
    return lite, fast, builder


def assert_same(lite, fast) -> None:
    pd.testing.assert_frame_equal(lite.frame, fast.frame)
    assert lite.rejections == fast.rejections
    assert (lite.received, lite.source) == (fast.received, fast.source)
    assert lite.timings == fast.timings


def test_simulator_messages_all_take_the_fast_path_and_give_the_lite_batch():
    sim = Simulator(seed=3)
    messages = [m for k in range(20) for m in sim.tick(NOW + k)]
    rows = [(m, NOW + 25.0, NOW + 20.0 + (i % 7)) for i, m in enumerate(messages)]  # broker instants, some late
    lite, fast, builder = both(rows, source="kafka")
    deactivated = sum(f'"sensor_id":"{INACTIVE}"'.encode() in m for m in messages)  # rejected, by the Validator
    assert deactivated == 20 and builder.fast_messages == len(messages) - deactivated
    assert len(fast.frame) > 3 * builder.fast_messages
    assert [r.reason for r in fast.rejections] == ["unknown_sensor"] * deactivated
    assert_same(lite, fast)


# -- random canonical and non-canonical messages -------------------------------------------------------------------
# Each part of a record is mostly canonical and sometimes not, so that a list mixes messages of both paths and
# defects sit next to valid fields (one wrong character sends a message to the Validator).
ODD_NUMBERS = st.sampled_from(
    ["-0", "-0.0", "0", "1e3", "1E-2", "00.5", ".5", "NaN", "Infinity", '"12.5"', "true", "null", "1" * 20,
     "1" * 16 + ".5", "0." + "3" * 20, "[1]", '"x"', "99999", "-99999"]
)  # fmt: skip
ODD_STAMPS = st.sampled_from(
    ["2026-02-30T10:00:00Z", "2026-02-29T10:00:00Z", "2024-02-29T10:00:00.250Z", "1999-12-31T23:59:59Z",
     "2300-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-10-26T24:00:00Z", "2026-10-26 07:33:20Z",
     "2026-10-26T07:33:60Z", "garbage", "1792999000.5", "1792999000500", "2026-10-26T07:33:20+00:00",
     "2026-10-26T07:33:20.5Z", "2026-10-26T07:33:20"]
)  # fmt: skip
ODD_KEYS = st.sampled_from(["sent_at", "status", "timestamp", "extra", "value", "Temperature", "sensor_id"])


def often(good, odd):
    """`good` 19 times in 20, else `odd`."""
    return st.integers(0, 19).flatmap(lambda k: odd if k == 0 else good)


@st.composite
def number_for(draw, metric: str) -> str:
    m = METRICS[metric]
    value = draw(st.floats(float(m.valid_min), float(m.valid_max), allow_nan=False))
    return draw(st.sampled_from([repr(value), f"{value:.1f}", str(int(value)), f"{value:.15f}"]))


@st.composite
def message(draw) -> bytes:
    kind = draw(often(st.just("canonical"), st.sampled_from(["junk", "single"])))
    if kind == "junk":
        return draw(st.binary(max_size=60))
    good_stamp = st.integers(int(NOW) - 86_400 * 400, int(NOW) + 200).flatmap(
        lambda t: st.sampled_from(["Z", ".000Z", ".123456Z"]).map(
            lambda end: pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S") + end
        )
    )
    stamp = draw(often(good_stamp, ODD_STAMPS))
    stamp_text = stamp if stamp.replace(".", "").isdigit() else f'"{stamp}"'  # an epoch number, else a string
    sensor = draw(often(st.sampled_from(KNOWN[:-1]), st.sampled_from([INACTIVE, "unknown-1", " x", "", "a\\u0041"])))
    parts = [f'"timestamp":{stamp_text}', f'"sensor_id":"{sensor}"']
    if kind == "single":
        parts.append(f'"metric":"{draw(st.sampled_from(list(METRICS)))}","value":{draw(ODD_NUMBERS)}')
    metrics = draw(st.lists(st.sampled_from(list(METRICS)), min_size=1, max_size=5, unique=True))
    for metric in metrics:
        key = draw(often(st.just(metric), ODD_KEYS | st.sampled_from(metrics)))  # the last: a duplicate key
        parts.append(f'"{key}":{draw(often(number_for(metric), ODD_NUMBERS))}')
    if draw(st.booleans()):
        word = draw(st.sampled_from(["OK", "ok", "warning", "Critical", "error", "fault", "odd", "", "1"]))
        parts.append(f'"status":"{word}"' if word != "1" else '"status":1')
    if draw(st.booleans()):
        sent = draw(st.sampled_from([NOW, NOW - 3, NOW + 400, (NOW + 1) * 1000, 12.0, 1792999999]))
        parts.append(f'"sent_at":{sent!r}')
        if draw(st.booleans()):
            parts.append(f'"{draw(st.sampled_from(list(METRICS)))}":{draw(ODD_NUMBERS)}')  # a pair after them
    if draw(st.integers(0, 19)) == 0:
        parts = draw(st.permutations(parts))
    separator = draw(often(st.just(","), st.just(", ")))
    return ("{" + separator.join(parts) + "}").encode()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            message() | st.none(),
            often(st.sampled_from([NOW, NOW + 100.0, NOW + 1e6]), st.just(NOW - 5e7)),
            st.none() | st.sampled_from([NOW - 1.0, NOW + 50.0, math.nan, math.inf, 1.0]),
        ),
        max_size=25,
    )
)
def test_random_messages_give_the_lite_processors_batch(rows):
    lite, fast, builder = both(rows)
    event(
        f"fast path: {min(builder.fast_messages, 3)}+ messages, slow path: {min(len(rows) - builder.fast_messages, 3)}+"
    )
    assert_same(lite, fast)


def test_a_repeated_reading_keeps_the_first_in_message_order_across_both_paths():
    canonical = f'{{"timestamp":"2026-10-26T07:33:20Z","sensor_id":"{KNOWN[0]}","temperature":25.5}}'.encode()
    spaced = f'{{"timestamp": "2026-10-26T07:33:20Z", "sensor_id": "{KNOWN[0]}", "temperature": 26.5}}'.encode()
    for rows in ([(spaced, NOW, None), (canonical, NOW, None)], [(canonical, NOW, None), (spaced, NOW, None)]):
        lite, fast, builder = both(rows)
        assert builder.fast_messages == 1
        assert fast.frame["value"].tolist() == [r[0].count(b"26.5") and 26.5 or 25.5 for r in rows]
        assert_same(lite, fast)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.binary(max_size=40), max_size=30), st.integers(0, 5), st.integers(0, 30))
def test_the_columnar_digest_is_the_digest_of_the_messages(payloads, first, count):
    """The ledger identity of a chunk is the same whether it is computed row by row or from the Arrow column
    (sliced as the chunks are), so a task replayed after an upgrade finds its commits."""
    column = pa.chunked_array([pa.array(payloads[:3], pa.binary()), pa.array(payloads[3:], pa.binary())])
    rows = [(p or b"", 0.0, None) for p in payloads][first : first + count]
    assert digest_of(column.slice(first, count)) == digest(rows)
