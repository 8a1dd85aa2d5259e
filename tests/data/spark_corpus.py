"""Messages for the Spark job's equivalence test (tests/integration/test_spark_job.py): together they take every
branch of ingestion/validation.py, so "the Spark job writes what the lite processor writes" is checked on each.

- MESSAGES: the three shapes, units and aliases, every time form, every rejection reason, and hostile input (401-
  and 5,000-digit integers, ±1e400, NUL bytes, invalid UTF-8, lone surrogates, 100,000-deep nesting, duplicate
  keys, 1 MiB, wrong types in every field);
- the poison corpus (tests/data/poison_corpus.py): rejected and accepted hostile messages;
- drawn(): messages of tests/data/messages.py, for each shape a valid one and one per defect that applies to it,
  drawn deterministically (derandomized hypothesis).
Times are in the past (2026-11-18) unless a message is about the future.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ingestion.catalogue import SENSORS
from ingestion.validation import MAX_FUTURE_S, MAX_PAYLOAD_BYTES
from tests.data import messages as contract
from tests.data.poison_corpus import ACCEPTED_HOSTILE, CORPUS

NOW = 1_795_000_000.0  # 2026-11-18T09:46:40Z
WX = next(s.sensor_id for s in SENSORS if s.kind == "weather")
AQ = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")
T = "2026-11-18T09:00:00Z"
NGSI_ID = f"urn:ngsi-ld:WeatherObserved:{WX}"


def j(obj) -> bytes:
    return json.dumps(obj).encode()


def temp(**fields) -> dict:
    return {"timestamp": T, "sensor_id": WX, "metric": "temperature", "value": 20, **fields}


MESSAGES: list[bytes] = [
    # accepted: the three shapes, numeric strings, units, epoch seconds / ms, naive and offset times
    j(temp(value=27.5, unit="C")),
    j({"timestamp": T, "device_id": WX, "type": "temperature", "value": "86", "unit": "°F"}),
    j({"ts": NOW - 60, "sensor_id": WX, "metric": "wind_speed", "value": 10, "unit": "m/s"}),
    j({"time": (NOW - 120) * 1000, "sensor_id": WX, "metric": "humidity", "value": 0.8, "unit": "0-1"}),
    j({"timestamp": "2026-11-18T05:00:00-04:00", "sensor_id": AQ, "metric": "pm10", "value": 60}),
    j({"timestamp": "2026-11-18T09:00:00", "sensor_id": AQ, "metric": "pm10", "value": 90, "building": "B"}),
    j(
        {
            "timestamp": T,
            "sensor_id": ENV,
            "temperature": 27.1,
            "humidity": 78,
            "co2": 415,
            "pressure": 1013.2,
            "battery": 87,
            "status": "WARNING",
            "sent_at": NOW - 1,
        }
    ),
    j({"timestamp": T, "sensor_id": ENV, "temperature": 22, "co2": "abc", "humidity": 150, "status": "FAULT"}),
    j(
        {
            "id": NGSI_ID,
            "type": "WeatherObserved",
            "dateObserved": {"type": "Property", "value": T},
            "temperature": {"type": "Property", "value": 27.5},
            "relativeHumidity": {"type": "Property", "value": 0.78},
        }
    ),
    j(
        {
            "@context": "x",
            "id": NGSI_ID,
            "type": "WeatherObserved",
            "dateObserved": T,
            "temperature": {"type": "Property", "value": "hot"},
            "windSpeed": {"type": "Property", "value": 3},
        }
    ),
    j({"timestamp": T, "sensor_id": f"  {WX} ", "metric": "pressure", "value": " 1013.25 "}),
    j(temp(value=35, status="error")),
    j(temp(value=1e-300)),
    j(temp(value=False)),  # JSON false: not a number
    # times
    j(temp(timestamp="2026-11-18T09:00:00.5Z", value=21)),
    j(temp(timestamp="2026-11-18T09:00:00.123456+00:00", value=22)),
    j(temp(timestamp="2026-11-18T09:00:00.1234567Z", value=23)),
    j(temp(timestamp=" 2026-11-18T09:00:01.000Z\t", value=24)),
    j(temp(timestamp="2024-02-29T09:00:00Z", value=25)),
    j(temp(timestamp="2026-02-29T09:00:00Z", value=26)),
    j(temp(timestamp="2026-11-18T24:00:00Z", value=27)),
    j(temp(timestamp=NOW + MAX_FUTURE_S - 1)),
    j(temp(timestamp=NOW + MAX_FUTURE_S + 1)),
    j(temp(timestamp=1_795_000_000_123)),  # epoch milliseconds
    j(temp(timestamp=0.5)),
    # rejected whole
    b"{not json",
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b"42",
    b"",
    b"",  # what a source row without a value (a Kafka tombstone) becomes
    j({"timestamp": T, "metric": "temperature", "value": 20}),
    j({"sensor_id": WX, "metric": "temperature", "value": 20}),
    j(temp(sensor_id="nobody-01")),
    j(temp(timestamp="yesterday")),
    j(temp(timestamp=True)),
    j(temp(timestamp=NOW + 3600)),
    j(temp(timestamp=-5)),
    j({"timestamp": T, "sensor_id": WX, "value": 20}),
    j({"timestamp": T, "sensor_id": WX, "building": "B"}),
    j({"timestamp": T, "sensor_id": WX, "metric": "temperature"}),
    j(temp(pad="x" * MAX_PAYLOAD_BYTES)),
    j({"id": NGSI_ID, "type": "WeatherObserved", "temperature": 20}),
    j({"id": NGSI_ID, "type": "WeatherObserved", "dateObserved": T, "temperature": 20}),
    j({"id": "urn:ngsi-ld:WeatherObserved:", "type": "WeatherObserved", "dateObserved": T}),
    # rejected per reading
    j(temp(metric="radiation", value=1)),
    j(temp(value="warm")),
    j(temp(value=None)),
    j(temp(value=True)),
    j(temp(value=float("nan"))),  # NaN token
    j(temp(value="inf")),
    j(temp(unit="furlongs")),
    j(temp(value=99)),
    j(temp(metric="humidity", value=-1)),
    # hostile (DESIGN §3: stored or quarantined, never a crash)
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1%s}'
    % (T.encode(), WX.encode(), b"0" * 400),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1%s}'
    % (T.encode(), WX.encode(), b"0" * 5000),
    j(temp(sent_at=10**400)),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 1e400}' % (T.encode(), WX.encode()),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": -1e400}' % (T.encode(), WX.encode()),
    b'{"timestamp": 1e400, "sensor_id": "%s", "metric": "temperature", "value": 20}' % WX.encode(),
    j(temp(note="\x00" * 2000)),
    b'{"timestamp": "%s", "sensor_id": "%s\x00", "metric": "temperature", "value": 20}' % (T.encode(), WX.encode()),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 20, "x": "\xff\xfe"}'
    % (T.encode(), WX.encode()),
    b"\xff\xfe\xfd",
    b'{"timestamp": "%s", "sensor_id": "\\ud800", "metric": "temperature", "value": 20}' % T.encode(),
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "\\udfff", "value": 20}' % (T.encode(), WX.encode()),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
    b'{"timestamp": "%s", "sensor_id": "%s", "metric": "temperature", "value": 20, "value": 21}'
    % (T.encode(), WX.encode()),
    j(temp(pad="y" * (1 << 20))),
    j(temp(sensor_id=[WX])),
    j(temp(sensor_id={"id": WX})),
    j(temp(sensor_id=12)),
    j(temp(metric=["temperature"])),
    j(temp(unit=["C"])),
    j(temp(unit={"u": "C"})),
    j(temp(status=["FAULT"])),
    j(temp(timestamp={"value": T})),
    j(temp(timestamp=[T])),
    j(temp(value=[20])),
    j(temp(value={"value": 20})),
    j(temp(sent_at="yesterday")),
    j({"timestamp": T, "sensor_id": ENV, "temperature": [1], "humidity": {"v": 1}, "co2": 415}),
]


def drawn(rounds: int = 2) -> list[bytes]:
    """For each shape of tests/data/messages.py: `rounds` valid messages and, for each defect that applies to the
    shape, `rounds` messages with that defect. Deterministic (derandomized), so a failure replays."""
    out: list[bytes] = []

    @settings(max_examples=rounds, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def draw(data):
        for shape in ("single", "multi", "ngsi"):
            out.append(data.draw(contract.messages(shape)).payload())
            for name in contract.defects_for(shape):
                message = data.draw(contract.messages(shape))
                contract.DEFECTS[name][3](message, data.draw)
                out.append(message.payload())

    draw()
    return out


def every_branch() -> list[bytes]:
    """All of the above, each message once, without those holding a line break (a JSON-lines file splits them)."""
    payloads = MESSAGES + [p for _, p, _ in CORPUS] + [p for _, p, _ in ACCEPTED_HOSTILE] + drawn()
    return [p for p in dict.fromkeys(payloads) if b"\n" not in p]
