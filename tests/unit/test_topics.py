"""topic_for() gives every payload a valid publish topic, whatever it holds (the simulator's malformed messages and
the poison corpus included): never an exception, never a wildcard or NUL in the topic."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.catalogue import SENSORS
from ingestion.transports.topics import ROOT, topic_for
from tests.data.poison_corpus import CORPUS


def valid(topic: str) -> bool:
    return topic.startswith(ROOT + "/") and not any(c in topic for c in "+#\x00") and len(topic.encode()) < 65535


def test_every_poison_message_gets_a_topic():
    for name, payload, _reason in CORPUS:
        assert valid(topic_for(payload)), name
    assert topic_for(b'{"sensor_id": ["a"]}') == f"{ROOT}/unknown/unknown/unknown"
    assert topic_for(b"[" * 100_000) == f"{ROOT}/unknown/unknown/unknown"


def test_a_known_sensor_goes_to_its_own_topic():
    sensor = SENSORS[0]
    assert topic_for(f'{{"sensor_id": "{sensor.sensor_id}"}}'.encode()).endswith("/" + sensor.sensor_id)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_get_a_valid_topic(payload):
    assert valid(topic_for(payload))
