"""The simulator (ingestion/simulator.py): determinism, realistic signals, faults, message formats, speed."""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ingestion.catalogue import METRICS, SENSORS, normalise_unit
from ingestion.simulator import FaultConfig, Simulator

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()  # Monday 2 March 2026, 08:00 local
ISO_Z_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BY_ID = {s.sensor_id: s for s in SENSORS}


def local(day: str, hour: float) -> float:
    """Epoch seconds of a local (UTC-4) day and hour."""
    return pd.Timestamp(day, tz="UTC").timestamp() + (hour + 4) * 3600


def sensor(kind: str, *, tag: str | None = None, commune: str | None = None):
    return next(
        s for s in SENSORS if s.kind == kind and (tag is None or tag in s.tags) and (commune in (None, s.commune))
    )


def hourly(sim: Simulator, sensor_, metric: str, start: float, days: int, step: float = 3600.0):
    times = start + np.arange(0, days * 86400, step)
    return times, sim.values(sensor_, metric, times)


# --- a checker of DESIGN.md §3, independent of the project's validation module ------------------------------
_TIME_KEYS = ("timestamp", "time", "ts")
_NGSI_MAP = {"pm10": ("pm10", None), "pm25": ("pm25", None), "no2": ("no2", None), "o3": ("o3", None),
             "so2": ("so2", None), "temperature": ("temperature", None), "relativeHumidity": ("humidity", "0-1"),
             "atmosphericPressure": ("pressure", None), "windSpeed": ("wind_speed", "m/s"),
             "windDirection": ("wind_direction", None), "precipitation": ("rain", None),
             "batteryLevel": ("battery", None)}  # fmt: skip


def design_problems(payload: bytes) -> list[str]:
    """Why DESIGN §3 would quarantine (part of) this message; [] for a fully valid message."""
    try:
        msg = json.loads(payload.decode("utf-8"))  # NaN/Infinity literals parse, then fail as non-finite values
    except (ValueError, UnicodeDecodeError):
        return ["invalid_json"]
    if not isinstance(msg, dict):
        return ["not_an_object"]
    problems: list[str] = []
    items: list[tuple[str, object, str | None]] = []
    if "dateObserved" in msg or str(msg.get("id", "")).startswith("urn:"):
        if not msg.get("id") or "dateObserved" not in msg:
            return ["missing_field"]
        items = [(_NGSI_MAP[k][0], v.get("value"), _NGSI_MAP[k][1]) for k, v in msg.items() if k in _NGSI_MAP]
    else:
        if not any(k in msg for k in _TIME_KEYS) or not (msg.get("sensor_id") or msg.get("device_id")):
            return ["missing_field"]
        if "value" in msg or "metric" in msg or ("type" in msg and isinstance(msg.get("type"), str)):
            if "value" not in msg:
                return ["missing_field"]
            items = [(msg.get("metric") or msg.get("type"), msg["value"], msg.get("unit"))]
        else:
            items = [(k, v, None) for k, v in msg.items() if k in METRICS]
    if not items:
        return ["missing_field"]
    for metric, value, unit in items:
        if metric not in METRICS:
            problems.append("unknown_metric")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append("non_numeric")
        elif not math.isfinite(value):
            problems.append("non_finite")
        else:
            v = normalise_unit(metric, unit, float(value))
            if not METRICS[metric].valid_min <= v <= METRICS[metric].valid_max:
                problems.append("out_of_range")
    return problems


# --- determinism ---------------------------------------------------------------------------------------------


def test_same_seed_same_messages_and_history():
    faults = FaultConfig(dropout_rate=0.01, stuck_rate=0.01, spike_rate=0.02, late_rate=0.05, duplicate_rate=0.05,
                         malformed_rate=0.05)  # fmt: skip
    for fmt in ("multi", "single", "ngsi"):
        a = Simulator(seed=11, faults=faults, fmt=fmt)
        b = Simulator(seed=11, faults=faults, fmt=fmt)
        assert [a.tick(T0 + k) for k in range(40)] == [b.tick(T0 + k) for k in range(40)]
    h1 = pd.concat(Simulator(seed=11).history(T0, T0 + 6 * 3600, 300))
    h2 = pd.concat(Simulator(seed=11).history(T0, T0 + 6 * 3600, 300))
    pd.testing.assert_frame_equal(h1, h2)


def test_different_seed_different_signals():
    a, b = Simulator(seed=1), Simulator(seed=2)
    assert a.tick(T0) != b.tick(T0)
    h1 = pd.concat(a.history(T0, T0 + 3600, 60))
    h2 = pd.concat(b.history(T0, T0 + 3600, 60))
    assert (h1["value"].to_numpy() != h2["value"].to_numpy()).mean() > 0.5


def test_values_is_a_pure_function_of_time():
    sim = Simulator(seed=5)
    s = sensor("weather")
    times = T0 + np.arange(0, 86400, 97.0)
    forward = sim.values(s, "temperature", times)
    perm = np.random.default_rng(0).permutation(len(times))
    assert np.array_equal(sim.values(s, "temperature", times[perm]), forward[perm])
    assert np.array_equal(Simulator(seed=5).values(s.sensor_id, "temperature", times[::-1]), forward[::-1])
    one_by_one = np.array([sim.values(s, "temperature", np.array([t]))[0] for t in times[:50]])
    assert np.array_equal(one_by_one, forward[:50])
    with pytest.raises(ValueError):
        sim.values(s, "co2", times)  # not one of this sensor's metrics


def test_tick_history_and_values_agree():
    sim = Simulator(seed=9)
    t = T0 + 17.0
    messages = [json.loads(m) for m in sim.tick(t)]
    assert len(messages) == len(SENSORS)
    for s, msg in zip(SENSORS, messages, strict=True):
        assert msg["sensor_id"] == s.sensor_id
        for m in s.metrics:
            assert msg[m] == sim.values(s, m, np.array([t]))[0], (s.sensor_id, m)
    frame = next(Simulator(seed=9).history(t, t + 1, 1.0))
    for row in frame.sample(60, random_state=1).itertuples():
        assert row.value == sim.values(row.sensor_id, row.metric, np.array([row.time.timestamp()]))[0]


# --- history ------------------------------------------------------------------------------------------------


def test_history_shape_types_and_valid_ranges():
    sim = Simulator(seed=42)
    start, end, step = T0 + 13.0, T0 + 7 * 86400, 300.0
    chunks = list(sim.history(start, end, step))
    assert all(len(c) <= 500_000 for c in chunks)
    df = pd.concat(chunks, ignore_index=True)
    assert list(df.columns) == ["time", "sensor_id", "metric", "value"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert df["value"].dtype == np.float64
    assert pd.api.types.is_string_dtype(df["sensor_id"]) and pd.api.types.is_string_dtype(df["metric"])
    rows_per_instant = sum(len(s.metrics) for s in SENSORS)
    n_steps = len(np.arange(math.ceil(start / step) * step, end, step))
    assert len(df) == n_steps * rows_per_instant
    epoch = df["time"].astype("int64").to_numpy()
    assert (epoch % int(step * 1e9) == 0).all()  # aligned on multiples of the step
    assert epoch.min() >= start * 1e9 and epoch.max() < end * 1e9
    assert not df.duplicated(["sensor_id", "metric", "time"]).any()
    assert set(zip(df["sensor_id"], df["metric"], strict=True)) == {
        (s.sensor_id, m) for s in SENSORS for m in s.metrics
    }
    assert df["value"].notna().all()
    for metric, values in df.groupby("metric")["value"]:
        d = METRICS[metric]
        assert values.min() >= d.valid_min and values.max() <= d.valid_max, metric
    assert list(sim.history(T0, T0, 60)) == []


def test_history_chunks_are_bounded_and_fast():
    sim = Simulator(seed=42)
    started = time.perf_counter()
    rows = 0
    for chunk in sim.history(T0, T0 + 14 * 86400, 60.0):
        assert len(chunk) <= 500_000
        rows += len(chunk)
    elapsed = time.perf_counter() - started
    assert rows == 14 * 1440 * sum(len(s.metrics) for s in SENSORS)
    assert rows / elapsed >= 1_000_000, f"{rows / elapsed:,.0f} rows/s"


def test_tick_is_fast():
    sim = Simulator(seed=42)
    sim.tick(T0)
    started = time.perf_counter()
    for k in range(1, 301):
        sim.tick(T0 + k)
    per_tick = (time.perf_counter() - started) / 300
    assert per_tick < 0.005, f"{per_tick * 1e3:.2f} ms per tick"


# --- realistic signals ------------------------------------------------------------------------------------------


def test_diurnal_temperature_and_humidity():
    sim = Simulator(seed=42)
    for s in (x for x in SENSORS if x.kind == "weather"):
        dawn = sim.values(s, "temperature", np.array([local(f"2026-03-{d:02d}", 5.5) for d in range(2, 16)]))
        afternoon = sim.values(s, "temperature", np.array([local(f"2026-03-{d:02d}", 14.0) for d in range(2, 16)]))
        assert afternoon.mean() > dawn.mean() + 3.0, s.sensor_id
        rh_dawn = sim.values(s, "humidity", np.array([local(f"2026-03-{d:02d}", 5.5) for d in range(2, 16)]))
        rh_noon = sim.values(s, "humidity", np.array([local(f"2026-03-{d:02d}", 14.0) for d in range(2, 16)]))
        assert rh_dawn.mean() > rh_noon.mean(), s.sensor_id
    lowland = sensor("weather", commune="Le Lamentin")
    high = sensor("weather", tag="high_ground")
    _, t_low = hourly(sim, lowland, "temperature", T0, 14)
    _, t_high = hourly(sim, high, "temperature", T0, 14)
    assert t_low.min() > 21.0 and t_low.max() < 33.0 and 25.0 < t_low.mean() < 28.5
    assert t_high.mean() < t_low.mean() - 2.5
    indoor = sensor("environment")
    _, t_in = hourly(sim, indoor, "temperature", T0, 14)
    assert t_in.min() > 23.0 and t_in.max() < 28.5


def test_pressure_tide_and_trade_winds():
    sim = Simulator(seed=42)
    s = sensor("weather", commune="Le Lamentin")
    at10 = sim.values(s, "pressure", np.array([local(f"2026-03-{d:02d}", 10.0) for d in range(2, 30)]))
    at16 = sim.values(s, "pressure", np.array([local(f"2026-03-{d:02d}", 16.0) for d in range(2, 30)]))
    assert at10.mean() > at16.mean() + 2.0
    _, p = hourly(sim, s, "pressure", T0, 30)
    assert p.min() > 1005 and p.max() < 1022
    _, direction = hourly(sim, s, "wind_direction", T0, 30)
    assert 40 < np.median(direction) < 100  # E to NE
    atlantic = sensor("weather", tag="atlantic")
    _, w_atl = hourly(sim, atlantic, "wind_speed", T0, 30)
    _, w_fdf = hourly(sim, sensor("weather", commune="Fort-de-France"), "wind_speed", T0, 30)
    assert 20 < w_atl.mean() < 40 and w_atl.mean() > w_fdf.mean()
    _, rain = hourly(sim, high := sensor("weather", tag="high_ground"), "rain", T0, 60, step=300.0)
    assert (rain > 0).mean() > 0.005 and rain.max() > 5.0, high.sensor_id


def test_traffic_peaks_on_the_a1_and_noise_follows():
    sim = Simulator(seed=42)
    a1 = sensor("traffic", tag="A1")
    peak = sim.values(a1, "traffic_flow", np.array([local("2026-03-03", 8.0), local("2026-03-04", 17.5)]))
    night = sim.values(a1, "traffic_flow", np.array([local("2026-03-03", 3.0), local("2026-03-04", 3.0)]))
    assert (peak > 10 * night).all()
    assert 10_000 <= peak.max() <= 15_500
    times, flow = hourly(sim, a1, "traffic_flow", local("2026-03-03", 0.0), 1, step=60.0)
    assert 110_000 < flow.mean() * 24 < 170_000  # ~140,000 vehicles/day on the A1
    speed_peak = sim.values(a1, "traffic_speed", np.array([local("2026-03-03", 8.0)]))
    speed_night = sim.values(a1, "traffic_speed", np.array([local("2026-03-03", 3.0)]))
    assert speed_peak[0] < 30 < 70 < speed_night[0]
    for corridor in ("RN1", "RN5"):
        s = sensor("traffic", tag=corridor)
        f = sim.values(s, "traffic_flow", np.array([local("2026-03-03", 8.0), local("2026-03-03", 3.0)]))
        assert f[0] > 5 * f[1], corridor
    noise = sensor("noise", tag="A1")
    day = sim.values(noise, "noise", np.array([local("2026-03-03", h) for h in (8.0, 12.0, 17.5)]))
    night = sim.values(noise, "noise", np.array([local("2026-03-03", h) for h in (2.0, 3.0, 4.0)]))
    assert day.mean() > night.mean() + 5
    assert 64 < day.mean() < 76 and 54 < night.mean() < 66


def test_street_lights_on_at_night_off_at_noon():
    sim = Simulator(seed=42)
    for s in (x for x in SENSORS if x.kind == "light"):
        for day in ("2026-01-15", "2026-06-21", "2026-11-22"):
            assert sim.values(s, "light_level", np.array([local(day, 12.0)]))[0] == 0
            assert sim.values(s, "power", np.array([local(day, 12.0)]))[0] == 0
            assert sim.values(s, "light_level", np.array([local(day, 20.0)]))[0] == 100
            assert sim.values(s, "power", np.array([local(day, 20.0)]))[0] > 0
            assert 0 < sim.values(s, "light_level", np.array([local(day, 2.0)]))[0] < 100  # dimmed late at night


def test_indoor_co2_rises_during_office_hours_and_parking_fills():
    sim = Simulator(seed=42)
    office = sensor("environment", commune="Fort-de-France")
    for day in ("2026-03-03", "2026-03-04", "2026-03-05"):
        night = sim.values(office, "co2", np.array([local(day, 3.0)]))[0]
        times = local(day, 0.0) + np.arange(0, 86400, 300.0)
        peak = sim.values(office, "co2", times).max()
        assert 380 <= night <= 460 and 850 <= peak <= 1500, (day, night, peak)
    town = sensor("parking", tag="urban")
    occupancy = sim.values(town, "parking_occupancy", np.array([local("2026-03-03", h) for h in (3.0, 10.5)]))
    assert occupancy[0] < 25 < 60 < occupancy[1]


def test_aq_no2_follows_traffic():
    sim = Simulator(seed=42)
    roadside = sensor("air_quality", tag="roadside")
    days = [f"2026-03-{d:02d}" for d in (3, 4, 5, 10, 11, 12)]
    rush = sim.values(roadside, "no2", np.array([local(d, 8.0) for d in days]))
    night = sim.values(roadside, "no2", np.array([local(d, 3.0) for d in days]))
    assert rush.mean() > 3 * night.mean()


@pytest.mark.parametrize("seed", [1, 42, 2026])
def test_dust_and_sargassum_episodes_in_every_7_day_window(seed):
    sim = Simulator(seed=seed)
    aq = sensor("air_quality", commune="Le François")
    hotspot = sensor("sargassum", tag="hotspot")
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    times, pm10 = hourly(sim, aq, "pm10", start, 400)
    _, h2s = hourly(sim, hotspot, "h2s", start, 400)
    week = 7 * 24
    dusty = np.convolve(pm10 > 50, np.ones(week, dtype=int), mode="valid")
    smelly = np.convolve(h2s > 1.0, np.ones(week, dtype=int), mode="valid")
    assert dusty.min() >= 12, "a 7-day window without a dust episode"
    assert smelly.min() >= 12, "a 7-day window without a sargassum episode"
    assert (pm10 > 80).any()  # alert level reached in some episodes
    assert np.median(pm10) < 50 and np.median(h2s) < 0.1  # episodes, not a permanent state
    others = [s for s in SENSORS if s.kind == "air_quality"]
    episode_hour = times[np.argmax(pm10)]
    assert all(sim.values(s, "pm10", np.array([episode_hour]))[0] > 50 for s in others)  # island-wide dust


def test_battery_drains_and_is_replaced():
    sim = Simulator(seed=42, faults=FaultConfig(battery_drain=20.0))
    s = sensor("weather")
    times, battery = hourly(sim, s, "battery", T0, 30)
    assert battery.min() >= 0 and battery.max() <= 100
    steps = np.diff(battery)
    assert (steps < 0).mean() > 0.8  # mostly draining
    assert steps.max() > 50  # replaced: back up to ~100 %
    slow = Simulator(seed=42)
    _, b = hourly(slow, s, "battery", T0, 1)
    assert abs(b[-1] - b[0]) < 5


# --- faults -------------------------------------------------------------------------------------------------


def run(sim: Simulator, ticks: int, start: float = T0):
    return [(start + k, sim.tick(start + k)) for k in range(ticks)]


def test_no_faults_by_default():
    sim = Simulator(seed=3)
    for _, messages in run(sim, 30):
        assert len(messages) == len(SENSORS) == len(set(messages))
        assert all(design_problems(m) == [] for m in messages)
    assert sim.stats == Counter()


def test_duplicates_at_the_requested_rate():
    sim = Simulator(seed=3, faults=FaultConfig(duplicate_rate=0.1))
    total = dup = 0
    for _, messages in run(sim, 300):
        counts = Counter(messages)
        total += len(counts)
        dup += sum(c - 1 for c in counts.values())
    assert 0.08 < dup / total < 0.12
    assert dup == sim.stats["duplicates"]


@pytest.mark.parametrize("fmt", ["multi", "single", "ngsi"])
def test_malformed_messages_at_the_requested_rate(fmt):
    sim = Simulator(seed=3, faults=FaultConfig(malformed_rate=0.1), fmt=fmt)
    total = bad = 0
    problems: Counter[str] = Counter()
    for _, messages in run(sim, 200):
        for m in messages:
            total += 1
            found = design_problems(m)
            bad += bool(found)
            problems.update(found)
    assert bad == sim.stats["malformed"]  # every malformed message is invalid, and only those
    assert 0.08 < bad / total < 0.12
    assert set(problems) == {"invalid_json", "non_finite", "missing_field", "out_of_range", "unknown_metric",
                             "non_numeric"}  # fmt: skip


def test_late_and_out_of_order_events():
    sim = Simulator(seed=3, faults=FaultConfig(late_rate=0.05, max_late_s=60))
    total = late = 0
    delays = []
    for t, messages in run(sim, 400):
        for m in messages:
            msg = json.loads(m)
            event = datetime.fromisoformat(msg["timestamp"]).timestamp()
            total += 1
            if event < t - 0.5:
                late += 1
                delays.append(t - event)
                assert msg["sent_at"] == t
    assert 0.035 < late / total < 0.065
    assert max(delays) <= 60 and min(delays) >= 1
    assert late + sim.pending_late == sim.stats["late"]


def test_dropouts_silence_a_sensor_for_a_stretch():
    sim = Simulator(seed=3, faults=FaultConfig(dropout_rate=0.002))
    seen = {s.sensor_id: [] for s in SENSORS}
    for _t, messages in run(sim, 900):
        present = {json.loads(m)["sensor_id"] for m in messages}
        for sid, trace in seen.items():
            trace.append(sid in present)
    assert sim.stats["dropouts"] > 20
    longest_gaps = []
    for trace in seen.values():
        gap = best = 0
        for ok in trace:
            gap = 0 if ok else gap + 1
            best = max(best, gap)
        longest_gaps.append(best)
    assert max(longest_gaps) >= 30  # offline for a stretch, not a lost message
    offline_share = 1 - np.mean([np.mean(t) for t in seen.values()])
    assert 0.1 < offline_share < 0.6  # 0.002/s starts x ~315 s average outage


def test_stuck_values_and_spikes():
    sim = Simulator(seed=3, faults=FaultConfig(stuck_rate=0.002, spike_rate=0.01))
    clean = Simulator(seed=3)
    spikes = frozen = total = 0
    last: dict[str, dict] = {}
    for t, messages in run(sim, 600):
        reference = {json.loads(m)["sensor_id"]: json.loads(m) for m in clean.tick(t)}
        for m in messages:
            msg = json.loads(m)
            s = BY_ID[msg["sensor_id"]]
            values = {k: msg[k] for k in s.metrics}
            total += 1
            for k in s.metrics:
                d = METRICS[k]
                if abs(values[k] - reference[s.sensor_id][k]) > 0.2 * (d.valid_max - d.valid_min):
                    spikes += 1
                    break
            if s.kind == "weather" and last.get(s.sensor_id) == values:
                frozen += 1
            last[s.sensor_id] = values
    assert sim.stats["stuck"] > 0 and frozen > 100  # a weather station repeating itself for minutes
    assert 0.005 < spikes / total < 0.015
    assert all(design_problems(m) == [] for _, msgs in run(Simulator(seed=4, faults=sim.faults), 50) for m in msgs)


# --- message formats ---------------------------------------------------------------------------------------------


def test_multi_format():
    sim = Simulator(seed=1, fmt="multi")
    for s, raw in zip(SENSORS, sim.tick(T0 + 0.25), strict=True):
        msg = json.loads(raw)
        assert ISO_Z_MS.match(msg["timestamp"]) and msg["timestamp"].endswith("00.250Z")
        assert msg["sensor_id"] == s.sensor_id
        assert set(s.metrics) <= set(msg)
        assert msg["status"] in ("OK", "WARNING", "FAULT")
        assert isinstance(msg["sent_at"], float) and msg["sent_at"] == T0 + 0.25
        assert design_problems(raw) == []


def test_single_format():
    sim = Simulator(seed=1, fmt="single")
    messages = [json.loads(m) for m in sim.tick(T0)]
    assert len(messages) == sum(len(s.metrics) for s in SENSORS)
    id_keys = {}
    for msg in messages:
        assert ISO_Z_MS.match(msg["timestamp"])
        sid = msg.get("device_id") or msg.get("sensor_id")
        assert ("device_id" in msg) != ("sensor_id" in msg)
        id_keys[sid] = "device_id" in msg
        metric = msg.get("type") or msg.get("metric")
        assert metric in BY_ID[sid].metrics
        assert isinstance(msg["value"], int | float) and isinstance(msg["unit"], str)
        assert isinstance(msg["sent_at"], float)
        expected = sim.values(sid, metric, np.array([T0]))[0]
        assert math.isclose(
            normalise_unit(metric, msg["unit"], msg["value"]), expected, abs_tol=0.02 + 0.002 * expected
        )
        if BY_ID[sid].kind == "environment":
            assert msg["building"] and isinstance(msg["floor"], int)
    share = sum(id_keys.values()) / len(id_keys)
    assert 0.4 <= share <= 0.6  # device_id for half of the sensors
    assert {m["unit"] for m in messages} & {"C", "dB", "m/s", "ppb", "ug/m3"}  # aliases exercised
    assert all(design_problems(m) == [] for m in sim.tick(T0 + 1))


def test_ngsi_format():
    sim = Simulator(seed=1, fmt="ngsi")
    for s, raw in zip(SENSORS, sim.tick(T0), strict=True):
        msg = json.loads(raw)
        if s.kind in ("air_quality", "weather"):
            entity = "AirQualityObserved" if s.kind == "air_quality" else "WeatherObserved"
            assert msg["id"] == f"urn:ngsi-ld:{entity}:{s.sensor_id}" and msg["type"] == entity
            assert ISO_Z_MS.match(msg["dateObserved"])
            props = {k: v for k, v in msg.items() if isinstance(v, dict) and v.get("type") == "Property"}
            assert props and all("value" in v for v in props.values())
            if entity == "WeatherObserved":
                assert 0 < props["relativeHumidity"]["value"] <= 1
                assert math.isclose(
                    props["windSpeed"]["value"] * 3.6, sim.values(s, "wind_speed", [T0])[0], abs_tol=0.05
                )
            else:
                assert props["pm10"]["value"] == sim.values(s, "pm10", [T0])[0]
        else:
            assert msg["sensor_id"] == s.sensor_id and "status" in msg  # falls back to "multi"
        assert design_problems(raw) == []


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        Simulator(fmt="xml")


def test_the_project_validator_accepts_clean_messages_and_rejects_malformed_ones():
    validation = pytest.importorskip("ingestion.validation")
    validator = validation.Validator(source="test", clock=lambda: T0 + 1000)
    for fmt in ("multi", "single", "ngsi"):
        sim = Simulator(seed=8, fmt=fmt)
        for _, messages in run(sim, 5):
            for m in messages:
                result = validator.parse(m, received_at=T0 + 10)
                assert result.rejections == [], (fmt, m, result.rejections)
                assert result.readings
        bad = Simulator(seed=8, fmt=fmt, faults=FaultConfig(malformed_rate=1.0))
        for _, messages in run(bad, 5):
            for m in messages:
                assert validator.parse(m, received_at=T0 + 10).rejections, (fmt, m)
