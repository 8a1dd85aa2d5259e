"""The shared frame's pure logic: time ranges in Martinique time, URL <-> state round trip, narrowing of sensors and
metrics by the other filters, invalid URL values ignored."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from components import filters
from components.filters import Filters

NOW = datetime(2026, 11, 22, 14, 7, 13, 500000, tzinfo=UTC)
CATALOGUE = pd.DataFrame(
    {
        "sensor_id": ["mq-fdf-aq-01", "mq-fdf-wx-01", "mq-lam-aq-01", "mq-rob-sg-01"],
        "name": ["AQ FdF", "Météo FdF", "AQ Lamentin", "Sargasses Robert"],
        "kind": ["air_quality", "weather", "air_quality", "sargassum"],
        "commune": ["Fort-de-France", "Fort-de-France", "Le Lamentin", "Le Robert"],
        "metrics": [("no2", "pm10"), ("humidity", "temperature"), ("pm10",), ()],
    }
)
METRICS = pd.DataFrame({"metric": ["h2s", "humidity", "no2", "pm10", "temperature"], "unit": ["ppm", "%", "", "", ""]})


@pytest.mark.parametrize(
    ("key", "end"),
    [
        ("15m", datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)),  # floored to the second
        ("1h", datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)),
        ("6h", datetime(2026, 11, 22, 14, 7, 10, tzinfo=UTC)),  # to 10 s
        ("24h", datetime(2026, 11, 22, 14, 7, 10, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 22, 14, 7, tzinfo=UTC)),  # to the minute
        ("30d", datetime(2026, 11, 22, 14, 7, tzinfo=UTC)),
    ],
)
def test_preset_windows_end_now_floored(key, end):
    start, got_end = filters.preset_window(key, NOW)
    assert got_end == end and got_end - start == timedelta(seconds=filters.RANGE_PRESETS[key])


def test_local_times_are_martinique():
    assert filters.parse_local("2026-11-22T08:30") == datetime(2026, 11, 22, 8, 30)
    assert filters.parse_local("2026-11-22T12:30:45+00:00") == datetime(2026, 11, 22, 8, 30)
    assert filters.parse_local("yesterday") is None and filters.parse_local("") is None
    assert filters.local_to_utc(datetime(2026, 11, 22, 20, 0)) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert filters.default_custom(NOW) == (datetime(2026, 11, 21, 10, 7), datetime(2026, 11, 22, 10, 7))


def test_narrowing_by_commune_and_kind():
    assert filters.narrow(CATALOGUE, (), ()) == tuple(CATALOGUE["sensor_id"])
    assert filters.narrow(CATALOGUE, ("Fort-de-France",), ()) == ("mq-fdf-aq-01", "mq-fdf-wx-01")
    assert filters.narrow(CATALOGUE, ("Fort-de-France", "Le Lamentin"), ("air_quality",)) == (
        "mq-fdf-aq-01",
        "mq-lam-aq-01",
    )
    assert filters.narrow(CATALOGUE, ("Le Robert",), ("weather",)) == ()
    assert filters.narrow(pd.DataFrame(), ("x",), ()) == ()


def test_metric_options_follow_the_sensors():
    assert filters.metric_options(CATALOGUE, METRICS, ("mq-fdf-aq-01", "mq-lam-aq-01")) == ["no2", "pm10"]
    assert filters.metric_options(CATALOGUE, METRICS, ("mq-rob-sg-01",)) == list(METRICS["metric"])  # none reported
    assert filters.metric_options(CATALOGUE, pd.DataFrame(), ("mq-fdf-aq-01",)) == []


def test_state_from_url_validates_everything():
    params = {
        "range": ["custom"],
        "from": ["2026-11-20T06:00"],
        "to": ["2026-11-21T06:00"],
        "commune": ["Fort-de-France", "Atlantis"],
        "kind": ["air_quality", "volcano"],
        "sensor": ["mq-fdf-aq-01", "mq-lam-aq-01", "nope"],  # mq-lam-aq-01 is not in Fort-de-France: dropped
        "metric": ["pm10"],
    }
    state = filters.state_from_url(params, CATALOGUE, METRICS, NOW)
    assert state == {
        "f_range": "custom",
        "f_from": datetime(2026, 11, 20, 6, 0),
        "f_to": datetime(2026, 11, 21, 6, 0),
        "f_communes": ("Fort-de-France",),
        "f_kinds": ("air_quality",),
        "f_sensors": ("mq-fdf-aq-01",),
        "f_metric": "pm10",
    }


def test_state_from_url_defaults():
    state = filters.state_from_url({"range": ["2y"], "metric": ["h2s"], "from": ["x"]}, CATALOGUE, METRICS, NOW)
    assert state["f_range"] == "24h"
    assert state["f_metric"] == "temperature"  # h2s: no sensor reports it; the default metric instead
    assert (state["f_from"], state["f_to"]) == filters.default_custom(NOW)
    bad_order = filters.state_from_url(
        {"range": ["custom"], "from": ["2026-11-21T06:00"], "to": ["2026-11-20T06:00"]}, CATALOGUE, METRICS, NOW
    )
    assert (bad_order["f_from"], bad_order["f_to"]) == filters.default_custom(NOW)


def test_url_round_trip():
    state = {
        "lang": "en",
        "refresh_s": 30,
        "f_range": "custom",
        "f_from": datetime(2026, 11, 20, 6, 0),
        "f_to": datetime(2026, 11, 21, 6, 30),
        "f_communes": ("Fort-de-France",),
        "f_kinds": (),
        "f_sensors": ("mq-fdf-aq-01",),
        "f_metric": "no2",
    }
    params = filters.url_params(state)
    assert params == {
        "lang": "en",
        "refresh": "30",
        "range": "custom",
        "from": "2026-11-20T06:00",
        "to": "2026-11-21T06:30",
        "commune": ["Fort-de-France"],
        "sensor": ["mq-fdf-aq-01"],
        "metric": "no2",
    }
    lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    back = filters.state_from_url(lists, CATALOGUE, METRICS, NOW)
    assert back == {k: v for k, v in state.items() if k.startswith("f_")}


def test_filters_from_state():
    custom = filters.filters_from_state(
        {"f_range": "custom", "f_from": datetime(2026, 11, 20, 6, 0), "f_to": datetime(2026, 11, 21, 6, 0)}, NOW
    )
    assert (custom.start, custom.end) == (
        datetime(2026, 11, 20, 10, tzinfo=UTC),
        datetime(2026, 11, 21, 10, tzinfo=UTC),
    )
    preset = filters.filters_from_state({"f_range": "1h", "f_communes": ("Le Robert",), "f_metric": "h2s"}, NOW)
    assert preset.range_key == "1h" and preset.end - preset.start == timedelta(hours=1)
    assert preset.communes == ("Le Robert",) and preset.metric == "h2s"
    assert filters.filters_from_state({}, NOW).range_key == "24h"  # before the sidebar ran


def test_matching_sensors():
    f = Filters(start=NOW, end=NOW, range_key="24h", communes=("Fort-de-France",))
    assert f.matching_sensors(CATALOGUE) == ("mq-fdf-aq-01", "mq-fdf-wx-01")
    chosen = Filters(start=NOW, end=NOW, range_key="24h", communes=("Fort-de-France",), sensor_ids=("mq-fdf-wx-01",))
    assert chosen.matching_sensors(CATALOGUE) == ("mq-fdf-wx-01",)
