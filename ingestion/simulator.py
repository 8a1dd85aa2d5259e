"""Deterministic simulator of the Madinina Monitor sensors (DESIGN.md §4).

Signals are pure functions of (seed, sensor, metric, time): every random-looking part comes from a 64-bit hash
of (seed, sensor id, metric, salt, integer time slot), so `values()` gives the same numbers in any order, for any
array of instants, and the live `tick()`, the fast `history()` backfill and `values()` agree exactly. Only the
fault injection of `tick()` (dropouts, stuck values, spikes, late and duplicate deliveries, malformed messages)
draws from a per-instance random generator seeded from the seed: it is deterministic given the seed and the
sequence of tick times.

Local time is America/Martinique (UTC−4, no daylight saving). See docs/simulator.md for the phenomena.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.catalogue import METRICS, SENSORS, Sensor

FORMATS = ("multi", "single", "ngsi")
LOCAL_OFFSET_S = -4 * 3600  # America/Martinique
DAY_S = 86400.0
HISTORY_CHUNK_ROWS = 500_000
LOW_BATTERY_WARNING = 10.0  # % below which a device reports status WARNING

# Decimals kept in messages and history (sensor resolution).
DECIMALS: dict[str, int] = {
    "temperature": 2, "humidity": 1, "pressure": 1, "wind_speed": 1, "wind_direction": 0, "rain": 1,
    "pm10": 1, "pm25": 1, "no2": 1, "o3": 1, "so2": 1, "co2": 0, "h2s": 3, "nh3": 3, "noise": 1,
    "traffic_flow": 0, "traffic_speed": 1, "parking_occupancy": 1, "light_level": 0, "power": 1, "battery": 1,
}  # fmt: skip

# Dust and sargassum episodes: one episode per cycle, plateau start s and length L (days) drawn per cycle.
# With period + s_max - s_min - L_min <= 6 days, every 7-day window holds at least 12 h of plateau.
DUST_EPISODES = {"period": 5.0, "s_min": 0.5, "s_max": 1.75, "l_min": 1.0, "l_max": 1.5, "ramp": 0.2}
SARGASSUM_EPISODES = {"period": 5.5, "s_min": 0.5, "s_max": 1.0, "l_min": 1.5, "l_max": 2.0, "ramp": 0.3}

CORRIDORS = ("A1", "RN1", "RN2", "RN5")
_CAPACITY = {"A1": 13_000.0, "RN5": 7_000.0, "RN1": 5_600.0, "RN2": 3_600.0}  # veh/h at the peak hour
_FREE_SPEED = {"A1": 90.0, "RN5": 80.0, "RN1": 80.0, "RN2": 70.0}  # km/h

NGSI_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
# (NGSI-LD property, our metric, factor from our unit to the property's unit, decimals)
_NGSI = {
    "air_quality": (
        "AirQualityObserved",
        [("pm10", "pm10", 1.0, 1), ("pm25", "pm25", 1.0, 1), ("no2", "no2", 1.0, 1), ("o3", "o3", 1.0, 1),
         ("so2", "so2", 1.0, 1)],
    ),
    "weather": (
        "WeatherObserved",
        [("temperature", "temperature", 1.0, 2), ("relativeHumidity", "humidity", 0.01, 3),
         ("atmosphericPressure", "pressure", 1.0, 1), ("windSpeed", "wind_speed", 1 / 3.6, 2),
         ("windDirection", "wind_direction", 1.0, 0), ("precipitation", "rain", 1.0, 1),
         ("batteryLevel", "battery", 1.0, 1)],
    ),
}  # fmt: skip

# Single-reading format: sensors speaking with "device_id" send these unit aliases (value converted).
_EMIT_ALIASES: dict[str, tuple[str, float, int]] = {
    "temperature": ("C", 1.0, 2), "noise": ("dB", 1.0, 1), "wind_speed": ("m/s", 1 / 3.6, 2),
    "h2s": ("ppb", 1000.0, 0), "nh3": ("ppb", 1000.0, 0), "pm10": ("ug/m3", 1.0, 1), "pm25": ("ug/m3", 1.0, 1),
    "no2": ("ug/m3", 1.0, 1), "o3": ("ug/m3", 1.0, 1), "so2": ("ug/m3", 1.0, 1),
}  # fmt: skip

MALFORMED_KINDS = ("invalid_json", "nan", "missing_field", "out_of_range", "unknown_metric", "non_numeric")


@dataclass
class FaultConfig:
    """Fault injection for `Simulator.tick()`. Rates are per-sensor-per-tick probabilities (malformed and
    duplicate: per message); the defaults inject no fault. `battery_drain` multiplies the battery discharge
    rate (it shapes the signal, so it also applies to `values()` and `history()`)."""

    stuck_rate: float = 0
    dropout_rate: float = 0
    spike_rate: float = 0
    battery_drain: float = 1.0
    late_rate: float = 0
    max_late_s: float = 120
    duplicate_rate: float = 0
    malformed_rate: float = 0


# --- hashing and noise ----------------------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_INV53 = 2.0**-53


def _key(*parts: object) -> np.uint64:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _unit(*parts: object) -> float:
    return float(int(_key(*parts)) >> 11) * _INV53


def _uniform(key, n: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) from a 64-bit key and an integer slot (splitmix64 finaliser); broadcasts."""
    x = (n.astype(np.uint64) * _GOLD) ^ key
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    x = x ^ (x >> _S31)
    return (x >> _S11).astype(np.float64) * _INV53


_KNOTS = np.array([0, 1], dtype=np.int64)


def _vnoise(key, t: np.ndarray, period: float) -> np.ndarray:
    """Smooth value noise in [-1, 1]: hashed knots every `period` seconds, smoothstep interpolation."""
    s = t / period
    n0 = np.floor(s)
    f = s - n0
    f = f * f * (3.0 - 2.0 * f)
    ab = _uniform(np.asarray(key)[..., None], n0.astype(np.int64)[..., None] + _KNOTS)  # both knots at once
    a = ab[..., 0]
    return 2.0 * (a + (ab[..., 1] - a) * f) - 1.0


def _sstep(x):
    x = np.minimum(np.maximum(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _gauss(h, mu: float, sigma: float):
    d = (h - mu + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / sigma) ** 2)


def _window(h, rise: float, rise_len: float, fall: float, fall_len: float):
    """0 at night, 1 between `rise` and `fall` (local hours), smooth edges."""
    return _sstep((h - rise) / rise_len) * (1.0 - _sstep((h - fall) / fall_len))


class _Time:
    """Derived calendar quantities of an array of epoch seconds, computed once and shared by all metrics."""

    def __init__(self, t: np.ndarray):
        self.t = t
        self.memo: dict = {}

    def cached(self, name: str, idx, fn: Callable[[], np.ndarray]):
        """Compute `fn()` once per (name, sensor positions) for these instants (shared by several metrics)."""
        if idx is None:
            key = name
        elif idx.size <= 4096:
            key = (name, idx.shape, idx.tobytes())
        else:
            return fn()
        value = self.memo.get(key)
        if value is None:
            value = self.memo[key] = fn()
        return value

    @cached_property
    def loc(self):
        return self.t + LOCAL_OFFSET_S

    @cached_property
    def day(self):
        return np.floor(self.loc / DAY_S).astype(np.int64)

    @cached_property
    def hour(self):
        return (self.loc - self.day * DAY_S) / 3600.0

    @cached_property
    def dow(self):  # Monday = 0 (1970-01-01 was a Thursday)
        return (self.day + 3) % 7

    @cached_property
    def yf(self):  # fraction of the year, 0 = 1 January
        return (self.loc / DAY_S / 365.2425) % 1.0

    @cached_property
    def wet(self):  # 0 in the dry season (carême, ~March), 1 at the heart of the wet season (hivernage, ~Sept)
        return 0.5 + 0.5 * np.cos(2 * np.pi * (self.yf - 0.67))

    @cached_property
    def diurnal(self):  # -1 at ~05:30, +1 at ~13:45 local
        h = self.hour
        rising = (h >= 5.5) & (h < 13.75)
        return np.where(rising, -np.cos(np.pi * (h - 5.5) / 8.25), np.cos(np.pi * ((h - 13.75) % 24.0) / 15.75))

    @cached_property
    def sun(self):
        return np.clip(np.sin(np.pi * (self.hour - 6.0) / 12.5), 0.0, None)


def _episode(key, t: np.ndarray, spec: dict, amp_min: float, amp_span: float):
    """Envelope (0..1, =1 on the plateau) and amplitude of the deterministic multi-day episodes."""
    period = spec["period"]
    phase = _unit(int(key), "phase") * period
    x = (t / DAY_S - phase) / period
    cycle = np.floor(x)
    days = (x - cycle) * period
    c = cycle.astype(np.int64)
    start = spec["s_min"] + (spec["s_max"] - spec["s_min"]) * _uniform(key ^ np.uint64(1), c)
    length = spec["l_min"] + (spec["l_max"] - spec["l_min"]) * _uniform(key ^ np.uint64(2), c)
    amp = amp_min + amp_span * _uniform(key ^ np.uint64(3), c) ** 1.5
    ramp = spec["ramp"]
    env = _sstep((days - (start - ramp)) / ramp) * (1.0 - _sstep((days - (start + length)) / ramp))
    return env, amp


# --- the signal model ---------------------------------------------------------------------------------------


class _Model:
    """Per-sensor parameters (arrays indexed by sensor position) and the vectorised signal of every metric.

    Every signal function takes `idx` (sensor positions) and a `_Time`; shapes broadcast, so the same code
    serves one instant for many sensors (tick), many instants for one sensor (values) and a grid (history)."""

    def __init__(self, sensors: tuple[Sensor, ...], seed: int, battery_drain: float):
        self.sensors = sensors
        self.seed = seed
        self.drain = float(battery_drain)
        self._keys: dict[tuple[str, int], np.ndarray] = {}
        tags = [set(s.tags) for s in sensors]

        def per_sensor(fn: Callable[[set[str], Callable[[str], float]], float]) -> np.ndarray:
            return np.array(
                [fn(tg, lambda name, s=s: _unit(seed, s.sensor_id, name)) for s, tg in zip(sensors, tags, strict=True)],
                dtype=np.float64,
            )

        def corridor(tg: set[str]) -> str | None:
            return next((c for c in CORRIDORS if c in tg), None)

        def first(tg: set[str], table: tuple[tuple[str, float], ...], default: float) -> float:
            return next((value for tag, value in table if tag in tg), default)

        self.indoor = np.array([s.kind == "environment" or "indoor" in tg for s, tg in zip(sensors, tags, strict=True)])
        self.corr_key = np.array(
            [_key(seed, "corridor", corridor(tg) or f"town:{s.insee}") for s, tg in zip(sensors, tags, strict=True)],
            dtype=np.uint64,
        )
        # Roads: peak-hour capacity, free-flow speed, how close to saturation the peak gets.
        self.capacity = per_sensor(
            lambda tg, u: (
                _CAPACITY.get(corridor(tg), 1_400.0) * (0.55 if "secondary" in tg else 1.0) * (0.93 + 0.14 * u("cap"))
            )
        )
        self.free_speed = per_sensor(
            lambda tg, u: (
                (_FREE_SPEED.get(corridor(tg), 50.0) - (10.0 if "secondary" in tg else 0.0)) * (0.95 + 0.1 * u("v0"))
            )
        )
        self.saturation = per_sensor(
            lambda tg, u: 0.8 if corridor(tg) is None else (0.85 if "secondary" in tg else 1.0)
        )
        self.noise_base = per_sensor(
            lambda tg, u: (
                (56.0 if "A1" in tg else 54.5 if corridor(tg) else 53.0 if "urban" in tg else 50.0)
                + 2.0 * (u("noise") - 0.5)
            )
        )
        # Air quality.
        self.no2_expo = per_sensor(
            lambda tg, u: (
                first(tg, (("roadside", 46.0), ("urban", 26.0)), 7.0)
                + (8.0 if "industrial" in tg else 0.0)
                + 4.0 * (u("no2") - 0.5)
            )
        )
        self.so2_prob = per_sensor(lambda tg, u: 0.05 if "industrial" in tg else 0.006)
        self.pm_base = per_sensor(lambda tg, u: (20.0 if "atlantic" in tg else 15.5) + 3.0 * (u("pm") - 0.5))
        self.dust_factor = per_sensor(lambda tg, u: 0.9 + 0.2 * u("dust"))
        self.sarg_factor = per_sensor(
            lambda tg, u: 1.2 + 0.1 * u("sarg") if "hotspot" in tg else 0.55 + 0.45 * u("sarg")
        )
        # Weather.
        self.temp_offset = per_sensor(
            lambda tg, u: (
                (-4.0 if "high_ground" in tg else 0.0)
                + (-0.3 if "atlantic" in tg else 0.0)
                + (0.3 if "caribbean" in tg else 0.0)
                + (0.4 if "urban" in tg else 0.0)
                + 0.6 * (u("temp") - 0.5)
            )
        )
        self.temp_amp = per_sensor(
            lambda tg, u: first(
                tg, (("atlantic", 0.85), ("high_ground", 0.9), ("urban", 1.05), ("caribbean", 1.05)), 1.0
            )
        )
        self.rh_offset = per_sensor(
            lambda tg, u: (
                (6.0 if "high_ground" in tg else 0.0)
                + (2.0 if "atlantic" in tg else 0.0)
                - (2.0 if tg & {"urban", "caribbean"} else 0.0)
            )
        )
        self.wind_base = per_sensor(
            lambda tg, u: (
                first(tg, (("atlantic", 31.0), ("high_ground", 27.0), ("caribbean", 14.0), ("urban", 16.0)), 21.0)
                * (0.92 + 0.16 * u("wind"))
            )
        )
        self.rain_prob = per_sensor(
            lambda tg, u: first(tg, (("high_ground", 0.15), ("atlantic", 0.09), ("caribbean", 0.05)), 0.07)
        )
        self.pressure_offset = per_sensor(lambda tg, u: 0.6 * (u("p") - 0.5))
        # Parking: one-hot weights of the daily pattern (town centre, campus, beach).
        self.pk_campus = per_sensor(lambda tg, u: 1.0 if "campus" in tg else 0.0)
        self.pk_beach = per_sensor(lambda tg, u: 1.0 if "beach" in tg and "campus" not in tg else 0.0)
        self.pk_urban = 1.0 - self.pk_campus - self.pk_beach
        self.parking_scale = per_sensor(lambda tg, u: 0.86 + 0.14 * u("pk"))
        # Street lights.
        self.light_rating = per_sensor(lambda tg, u: 900.0 + 1500.0 * u("rating"))
        self.light_on_shift = per_sensor(lambda tg, u: (u("on") - 0.5) * 16.0 / 60.0)
        self.light_off_shift = per_sensor(lambda tg, u: (u("off") - 0.5) * 16.0 / 60.0)
        self.light_dim = per_sensor(lambda tg, u: 50.0 if u("dim") < 0.5 else 60.0)
        # Buildings: one-hot weights (offices by default, open 24 h, campus).
        self.b_24h = per_sensor(lambda tg, u: 1.0 if "24h" in tg else 0.0)
        self.b_campus = per_sensor(lambda tg, u: 1.0 if "campus" in tg and "24h" not in tg else 0.0)
        self.b_office = 1.0 - self.b_24h - self.b_campus
        self.indoor_offset = per_sensor(lambda tg, u: (u("in") - 0.5) * 1.0)
        # Batteries.
        self.bat_rate = per_sensor(lambda tg, u: 0.7 + 1.6 * u("bat_rate"))  # % per day
        self.bat_min = per_sensor(lambda tg, u: 6.0 + 16.0 * u("bat_min"))  # level at replacement
        self.bat_phase = per_sensor(lambda tg, u: u("bat_phase"))

        self.g_dust = _key(seed, "dust")
        self.g_sarg = _key(seed, "sargassum")
        self.g_synoptic = _key(seed, "synoptic")

        self.functions: dict[str, Callable] = {
            "pressure": self.pressure, "wind_speed": self.wind_speed, "wind_direction": self.wind_direction,
            "rain": self.rain, "pm10": self.pm10, "pm25": self.pm25, "no2": self.no2, "o3": self.o3,
            "so2": self.so2, "co2": self.co2, "h2s": self.h2s, "nh3": self.nh3, "noise": self.noise,
            "traffic_flow": self.traffic_flow, "traffic_speed": self.traffic_speed,
            "parking_occupancy": self.parking, "light_level": self.light_level, "power": self.power,
            "battery": self.battery,
        }  # fmt: skip

    # -- plumbing -------------------------------------------------------------------------------------------
    def key(self, metric: str, salt: int = 0) -> np.ndarray:
        """Per-sensor 64-bit keys of (seed, sensor, metric, salt)."""
        keys = self._keys.get((metric, salt))
        if keys is None:
            keys = np.array([_key(self.seed, s.sensor_id, metric, salt) for s in self.sensors], dtype=np.uint64)
            self._keys[(metric, salt)] = keys
        return keys

    def function(self, metric: str, sensor_index: int) -> Callable:
        if metric == "temperature":
            return self.temperature_in if self.indoor[sensor_index] else self.temperature_out
        if metric == "humidity":
            return self.humidity_in if self.indoor[sensor_index] else self.humidity_out
        return self.functions[metric]

    def evaluate(self, metric: str, fn: Callable, idx: np.ndarray, tm: _Time) -> np.ndarray:
        """Rounded, range-clipped values for sensor positions `idx` at times `tm` (numpy broadcasting)."""
        shape = np.broadcast_shapes(np.shape(idx), np.shape(tm.t))
        x = np.broadcast_to(fn(idx, tm), shape)
        definition = METRICS[metric]
        return np.minimum(np.maximum(np.round(x, DECIMALS[metric]), definition.valid_min), definition.valid_max)

    @staticmethod
    def _shape(idx, tm: _Time):
        return np.broadcast_shapes(np.shape(idx), np.shape(tm.t))

    # -- shared signals -------------------------------------------------------------------------------------
    def _traffic_base(self, tm: _Time):
        def compute():
            h, dow = tm.hour, tm.dow
            day = _window(h, 5.0, 2.0, 20.0, 2.5)
            weekday = 0.06 + 0.50 * day + 0.44 * _gauss(h, 8.0, 1.1) + 0.40 * _gauss(h, 17.6, 1.3)
            saturday = 0.07 + 0.45 * day + 0.20 * _gauss(h, 11.0, 2.0) + 0.12 * _gauss(h, 17.5, 1.5)
            sunday = 0.07 + 0.30 * day + 0.15 * _gauss(h, 11.0, 2.0) + 0.15 * _gauss(h, 18.0, 1.5)
            return np.where(dow < 5, weekday, np.where(dow == 5, saturday, sunday))

        return tm.cached("traffic_base", None, compute)

    def traffic_profile(self, idx, tm: _Time):
        """Relative traffic (≈1 at the weekday morning peak) on the sensor's corridor, or town streets."""

        def compute():
            ck = self.corr_key[idx]
            day_factor = 0.95 + 0.10 * _uniform(ck ^ np.uint64(7), tm.day)
            return self._traffic_base(tm) * day_factor * (1.0 + 0.06 * _vnoise(ck, tm.t, 1200.0))

        return tm.cached("traffic", idx, compute)

    def rain(self, idx, tm: _Time):
        """Tropical showers: per sensor and local hour, a shower with a probability that rises in hivernage."""
        return tm.cached("rain", idx, lambda: self._rain(idx, tm))

    def _rain(self, idx, tm: _Time):
        shape = self._shape(idx, tm)
        k = np.broadcast_to(self.key("rain")[idx], shape)
        slot_f = tm.loc / 3600.0
        slot = np.broadcast_to(np.floor(slot_f).astype(np.int64), shape)
        prob = self.rain_prob[idx] * (0.45 + 1.1 * tm.wet)
        wet = _uniform(k, slot) < prob
        out = np.zeros(shape)
        if wet.any():
            kw, sw = k[wet], slot[wet]
            fw = np.broadcast_to(slot_f - np.floor(slot_f), shape)[wet]
            start = 0.65 * _uniform(kw ^ np.uint64(1), sw)
            dur = 0.1 + 0.35 * _uniform(kw ^ np.uint64(2), sw)
            peak = np.minimum(2.0 + 14.0 * -np.log1p(-_uniform(kw ^ np.uint64(3), sw)), 150.0)
            x = (fw - start) / dur
            inside = (x >= 0) & (x < 1)
            out[wet] = inside * peak * np.sin(np.pi * np.minimum(np.maximum(x, 0.0), 1.0))
        out[out < 0.05] = 0.0
        return out

    def _outdoor_pressure(self, tm: _Time):
        def compute():
            g = self.g_synoptic
            return (
                1014.0
                + 1.2 * np.cos(2 * np.pi * (tm.yf - 0.5))
                + 2.2 * _vnoise(g, tm.t, 2.5 * DAY_S)
                + 0.7 * _vnoise(g ^ np.uint64(1), tm.t, 0.5 * DAY_S)
                + 1.9 * np.cos(2 * np.pi * (tm.hour - 10.0) / 12.0)  # semi-diurnal tide, highs ~10 h and ~22 h
            )

        return tm.cached("pressure", None, compute)

    # -- weather --------------------------------------------------------------------------------------------
    def temperature_out(self, idx, tm: _Time):
        k = self.key("temperature")[idx]
        season = tm.cached("t_season", None, lambda: 26.6 + 0.9 * np.cos(2 * np.pi * (tm.yf - 0.7)))
        rain = self.rain(idx, tm)
        return (
            season
            + self.temp_offset[idx]
            + (3.7 * self.temp_amp[idx]) * tm.diurnal
            + 0.6 * _vnoise(k, tm.t, 7200.0)
            + 0.25 * _vnoise(k ^ np.uint64(1), tm.t, 600.0)
            + 0.05 * _vnoise(k ^ np.uint64(2), tm.t, 5.0)
            - 1.8 * np.minimum(rain / 10.0, 1.0)
        )

    def humidity_out(self, idx, tm: _Time):
        k = self.key("humidity")[idx]
        rain = self.rain(idx, tm)
        rh = (
            76.0
            + 4.0 * tm.wet
            + self.rh_offset[idx]
            - (9.5 * self.temp_amp[idx]) * tm.diurnal
            + 12.0 * np.minimum(rain / 8.0, 1.0)
            + 3.0 * _vnoise(k, tm.t, 3 * 3600.0)
            + 0.3 * _vnoise(k ^ np.uint64(1), tm.t, 10.0)
        )
        return np.minimum(np.maximum(rh, 35.0), 100.0)

    def pressure(self, idx, tm: _Time):
        k = self.key("pressure")[idx]
        return self._outdoor_pressure(tm) + self.pressure_offset[idx] + 0.05 * _vnoise(k, tm.t, 30.0)

    def wind_speed(self, idx, tm: _Time):
        k = self.key("wind_speed")[idx]
        base = self.wind_base[idx]
        shared = tm.cached(
            "wind",
            None,
            lambda: (
                (1.0 + 0.18 * np.cos(2 * np.pi * (tm.hour - 14.0) / 24.0))
                * (1.0 + 0.12 * _vnoise(self.g_synoptic ^ np.uint64(5), tm.t, 2 * DAY_S))
            ),
        )
        slow = shared * (1.0 + 0.22 * _vnoise(k, tm.t, 5 * 3600.0))
        gust = 0.15 * base * _vnoise(k ^ np.uint64(1), tm.t, 15.0)
        return np.maximum(base * slow + gust, 0.0)

    def wind_direction(self, idx, tm: _Time):
        k = self.key("wind_direction")[idx]
        shared = tm.cached(
            "wind_dir", None, lambda: 70.0 + 15.0 * _vnoise(self.g_synoptic ^ np.uint64(6), tm.t, 2 * DAY_S)
        )
        d = shared + 15.0 * _vnoise(k, tm.t, 6 * 3600.0) + 8.0 * _vnoise(k ^ np.uint64(1), tm.t, 60.0)
        return d % 360.0

    # -- indoor ---------------------------------------------------------------------------------------------
    def _occupancy(self, idx, tm: _Time):
        """Share of the building's usual crowd present (lagged 25 min: CO2 builds up after people arrive)."""

        def compute():
            h = (tm.hour - 0.4) % 24.0
            workday = (tm.dow < 5).astype(np.float64)
            office = _window(h, 7.25, 1.25, 16.75, 1.25) * (1.0 - 0.35 * _gauss(h, 12.75, 0.6))
            campus = _window(h, 7.5, 1.0, 17.5, 1.5) * (1.0 - 0.3 * _gauss(h, 12.5, 0.7))
            open_24h = 0.45 + 0.45 * _window(h, 6.0, 2.0, 20.0, 2.0)
            weekend = 0.05 * _window(h, 8.0, 1.0, 13.0, 1.0)
            return workday * office + (1.0 - workday) * weekend, workday * campus + (1 - workday) * weekend, open_24h

        office, campus, open_24h = tm.cached("occupancy", None, compute)
        return self.b_office[idx] * office + self.b_campus[idx] * campus + self.b_24h[idx] * open_24h

    def _aircon(self, idx, tm: _Time):
        office_hours = tm.cached("aircon", None, lambda: (tm.dow < 5) * _window(tm.hour, 6.75, 0.75, 18.0, 1.0))
        w = self.b_24h[idx]
        return w + (1.0 - w) * office_hours

    def temperature_in(self, idx, tm: _Time):
        k = self.key("temperature")[idx]
        return (
            27.2
            - 2.8 * self._aircon(idx, tm)
            + 0.5 * tm.diurnal
            + self.indoor_offset[idx]
            + 0.3 * _vnoise(k, tm.t, 3 * 3600.0)
            + 0.05 * _vnoise(k ^ np.uint64(1), tm.t, 10.0)
        )

    def humidity_in(self, idx, tm: _Time):
        k = self.key("humidity")[idx]
        return (
            71.0
            - 15.0 * self._aircon(idx, tm)
            + 2.0 * _vnoise(k, tm.t, 3 * 3600.0)
            + 0.2 * _vnoise(k ^ np.uint64(1), tm.t, 10.0)
        )

    def co2(self, idx, tm: _Time):
        k = self.key("co2")[idx]
        peak = 520.0 + 480.0 * _uniform(k ^ np.uint64(9), tm.day)  # this day's crowd: peak 940-1420 ppm
        return (
            415.0
            + 10.0 * _vnoise(k, tm.t, 3600.0)
            + peak * self._occupancy(idx, tm) * (1.0 + 0.05 * _vnoise(k ^ np.uint64(1), tm.t, 900.0))
            + 6.0 * _vnoise(k ^ np.uint64(2), tm.t, 20.0)
        )

    # -- air quality ----------------------------------------------------------------------------------------
    def _dust(self, tm: _Time):
        """Saharan dust over the whole island (µg/m³ added to PM10 on the plateau: 60-130, more in May-June)."""

        def compute():
            env, amp = _episode(self.g_dust, tm.t, DUST_EPISODES, 60.0, 70.0)
            season = 1.0 + 0.35 * _gauss(tm.yf * 12.0, 5.0, 1.0)
            wobble = 0.9 + 0.1 * _vnoise(self.g_dust ^ np.uint64(4), tm.t, 8 * 3600.0)
            return env * amp * season * wobble

        return tm.cached("dust", None, compute)

    def _pm_parts(self, idx, tm: _Time):
        def compute():
            k = self.key("pm10")[idx]
            background = self.pm_base[idx] * (1.0 + 0.15 * _vnoise(k, tm.t, 3 * 3600.0))
            traffic = (0.18 * self.no2_expo[idx]) * self.traffic_profile(idx, tm)
            dust = self.dust_factor[idx] * self._dust(tm)
            return background, traffic, dust, k

        return tm.cached("pm", idx, compute)

    def pm10(self, idx, tm: _Time):
        background, traffic, dust, k = self._pm_parts(idx, tm)
        return np.maximum(background + traffic + dust + 2.0 * _vnoise(k ^ np.uint64(1), tm.t, 600.0), 1.0)

    def pm25(self, idx, tm: _Time):
        background, traffic, dust, k = self._pm_parts(idx, tm)
        return np.maximum(
            0.35 * background + 0.6 * traffic + 0.3 * dust + 1.0 * _vnoise(k ^ np.uint64(2), tm.t, 600.0), 0.5
        )

    def no2(self, idx, tm: _Time):
        k = self.key("no2")[idx]
        road = self.no2_expo[idx] * self.traffic_profile(idx, tm) * (1.0 + 0.25 * _vnoise(k, tm.t, 2 * 3600.0))
        return np.maximum(4.0 + road + 3.0 * _vnoise(k ^ np.uint64(1), tm.t, 600.0), 0.5)

    def o3(self, idx, tm: _Time):
        k = self.key("o3")[idx]
        shared = tm.cached(
            "o3",
            None,
            lambda: 38.0 + 18.0 * tm.sun + 4.0 * _vnoise(self.g_synoptic ^ np.uint64(3), tm.t, 2 * DAY_S),
        )
        titration = (0.35 * self.no2_expo[idx]) * self.traffic_profile(idx, tm)
        return np.maximum(shared - titration + 6.0 * _vnoise(k, tm.t, 6 * 3600.0), 2.0)

    def so2(self, idx, tm: _Time):
        """Low background; hourly chance of a plume (higher near the refinery/power plant: tag industrial)."""
        shape = self._shape(idx, tm)
        k = np.broadcast_to(self.key("so2")[idx], shape)
        slot_f = tm.loc / 3600.0
        slot = np.broadcast_to(np.floor(slot_f).astype(np.int64), shape)
        plume = _uniform(k ^ np.uint64(1), slot) < self.so2_prob[idx]
        out = np.broadcast_to(1.5 + 1.0 * _vnoise(k, tm.t, 1800.0), shape).copy()
        if plume.any():
            frac = np.broadcast_to(slot_f - np.floor(slot_f), shape)[plume]
            amp = 15.0 + 85.0 * _uniform(k[plume] ^ np.uint64(2), slot[plume])
            out[plume] += amp * np.sin(np.pi * frac)
        return np.maximum(out, 0.1)

    # -- sargassum ------------------------------------------------------------------------------------------
    def _sargassum(self, idx, tm: _Time):
        """Gas from decaying sargassum (ppm of H2S) during stranding episodes; NH3 follows at about half."""

        def shared():
            env, amp = _episode(self.g_sarg, tm.t, SARGASSUM_EPISODES, 1.4, 2.6)
            season = 1.0 + 0.4 * _gauss(tm.yf * 12.0, 7.5, 1.2)  # July-September peak
            night = 1.0 - tm.sun  # calmer air at night: gas accumulates
            return env * amp * season * (0.88 + 0.12 * night)

        def compute():
            k = self.key("h2s")[idx]
            wobble = 1.0 + 0.1 * _vnoise(k, tm.t, 3600.0)
            return self.sarg_factor[idx] * tm.cached("sarg_t", None, shared) * wobble

        return tm.cached("sarg", idx, compute)

    def h2s(self, idx, tm: _Time):
        k = self.key("h2s")[idx]
        return 0.012 + 0.008 * _vnoise(k ^ np.uint64(1), tm.t, 1800.0) + self._sargassum(idx, tm)

    def nh3(self, idx, tm: _Time):
        k = self.key("nh3")[idx]
        return 0.03 + 0.01 * _vnoise(k, tm.t, 1800.0) + 0.5 * self._sargassum(idx, tm)

    # -- roads, parking, lights -----------------------------------------------------------------------------
    def traffic_flow(self, idx, tm: _Time):
        k = self.key("traffic_flow")[idx]
        return self.capacity[idx] * self.traffic_profile(idx, tm) * (1.0 + 0.03 * _vnoise(k, tm.t, 60.0))

    def traffic_speed(self, idx, tm: _Time):
        k = self.key("traffic_speed")[idx]
        load = np.minimum(np.maximum(self.traffic_profile(idx, tm) * self.saturation[idx], 0.0), 1.0)
        congestion = load * load * load * load
        speed = self.free_speed[idx] * (1.0 - 0.84 * congestion) * (1.0 + 0.05 * _vnoise(k, tm.t, 300.0))
        return np.maximum(speed + 1.5 * _vnoise(k ^ np.uint64(1), tm.t, 20.0), 3.0)

    def noise(self, idx, tm: _Time):
        """LAeq (dB(A)) following the traffic, with a loud event (motorbike, horn) in ~2 % of 10-s slots."""
        k = self.key("noise")[idx]
        p = np.maximum(self.traffic_profile(idx, tm), 0.0)
        slot = np.floor(tm.t / 10.0).astype(np.int64)
        event = (_uniform(k ^ np.uint64(2), slot) < 0.02) * (6.0 + 9.0 * _uniform(k ^ np.uint64(3), slot))
        level = self.noise_base[idx] + 15.0 * np.sqrt(p) + 1.2 * _vnoise(k, tm.t, 30.0)
        return level + 10.0 * np.log10(1.0 + 10.0 ** (event / 10.0) * (event > 0))

    def parking(self, idx, tm: _Time):
        def shapes():
            h, dow = tm.hour, tm.dow
            urban = np.where(
                dow < 5,
                0.12 + 0.78 * _window(h, 7.0, 2.0, 18.0, 2.0) - 0.12 * _gauss(h, 13.0, 0.8),
                np.where(
                    dow == 5,
                    0.10 + 0.70 * _window(h, 8.0, 1.5, 13.0, 1.0),
                    0.08 + 0.25 * _window(h, 9.0, 1.0, 13.0, 1.0),
                ),
            )
            campus = np.where(dow < 5, 0.05 + 0.85 * _window(h, 7.0, 1.5, 17.0, 2.0), 0.05)
            beach = np.where(
                dow < 5, 0.10 + 0.45 * _window(h, 9.0, 2.0, 16.0, 2.0), 0.15 + 0.80 * _window(h, 8.5, 2.0, 16.5, 2.0)
            )
            return urban, campus, beach

        urban, campus, beach = tm.cached("parking", None, shapes)
        k = self.key("parking_occupancy")[idx]
        occupancy = self.pk_urban[idx] * urban + self.pk_campus[idx] * campus + self.pk_beach[idx] * beach
        day_factor = 0.93 + 0.12 * _uniform(k ^ np.uint64(5), tm.day)
        occupancy = occupancy * self.parking_scale[idx] * day_factor * (1.0 + 0.04 * _vnoise(k, tm.t, 900.0))
        return 100.0 * np.minimum(np.maximum(occupancy, 0.0), 1.0)

    def light_level(self, idx, tm: _Time):
        """Street lights: 100 % from ~18:30 to ~05:45 local (season ±15 min), dimmed 23:00-04:30, 0 by day."""

        def shared():
            h = tm.hour
            on_at = 18.5 + 0.25 * np.cos(2 * np.pi * (tm.yf - 0.5))
            off_at = 5.75 + 0.2 * np.cos(2 * np.pi * (tm.yf - 0.05))
            return h - on_at, h - off_at, (h >= 23.0) | (h < 4.5)

        def compute():
            since_on, since_off, dimmed = tm.cached("light_t", None, shared)
            on = (since_on >= self.light_on_shift[idx]) | (since_off < self.light_off_shift[idx])
            return on * np.where(dimmed, self.light_dim[idx], 100.0)

        return tm.cached("light_on", idx, compute)

    def power(self, idx, tm: _Time):
        k = self.key("power")[idx]
        level = self.light_level(idx, tm)
        return self.light_rating[idx] * level / 100.0 * (1.0 + 0.015 * _vnoise(k, tm.t, 60.0))

    # -- battery --------------------------------------------------------------------------------------------
    def battery(self, idx, tm: _Time):
        """Sawtooth: drains linearly, back to 100 % when replaced (at a per-sensor level, 6-22 %)."""
        span = 100.0 - self.bat_min[idx]
        if self.drain <= 0:
            frac = self.bat_phase[idx]
        else:
            frac = (tm.t * (self.bat_rate[idx] * self.drain / span / DAY_S) + self.bat_phase[idx]) % 1.0
        k = self.key("battery")[idx]
        return 100.0 - span * frac + 0.1 * _vnoise(k, tm.t, 600.0)


# --- message helpers --------------------------------------------------------------------------------------------


def iso_utc(t: float) -> str:
    """ISO-8601 UTC with milliseconds and "Z", e.g. 2026-11-22T10:00:00.000Z."""
    ms = int(round(t * 1000.0))
    sec, milli = divmod(ms, 1000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{milli:03d}Z"


def _dumps(message: dict) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _num(value: float, decimals: int):
    return int(value) if decimals == 0 else value


class Simulator:
    """Deterministic sensor simulator: live ticks with optional faults, pure `values()`, fast `history()`."""

    def __init__(
        self,
        sensors=SENSORS,
        *,
        seed: int = 42,
        faults: FaultConfig | None = None,
        fmt: str = "multi",
    ):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
        self.sensors: tuple[Sensor, ...] = tuple(sensors)
        if not self.sensors:
            raise ValueError("no sensors to simulate")
        ids = [s.sensor_id for s in self.sensors]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate sensor ids")
        for s in self.sensors:
            unknown = [m for m in s.metrics if m not in METRICS]
            if unknown:
                raise ValueError(f"sensor {s.sensor_id}: unknown metrics {unknown}")
        self.seed = int(seed)
        self.faults = faults or FaultConfig()
        self.fmt = fmt
        self._model = _Model(self.sensors, self.seed, self.faults.battery_drain)
        self._index = {s.sensor_id: i for i, s in enumerate(self.sensors)}
        self._foreign: dict[str, _Model] = {}

        # Evaluation groups: (metric, function, sensor positions). Tick and history evaluate group by group.
        groups: dict[tuple[str, Callable], list[int]] = {}
        for i, s in enumerate(self.sensors):
            for m in s.metrics:
                groups.setdefault((m, self._model.function(m, i)), []).append(i)
        self._groups = [(m, fn, np.array(rows, dtype=np.int64)) for (m, fn), rows in groups.items()]
        position = {(gi, i): pos for gi, (_, _, rows) in enumerate(self._groups) for pos, i in enumerate(rows)}
        group_of = {(m, i): gi for gi, (m, _, rows) in enumerate(self._groups) for i in rows.tolist()}
        self._layout = [
            [(m, group_of[(m, i)], position[(group_of[(m, i)], i)], DECIMALS[m]) for m in s.metrics]
            for i, s in enumerate(self.sensors)
        ]
        self._rows_per_instant = sum(len(rows) for _, _, rows in self._groups)
        self._block_rows: dict[int, int] = {}
        self._block_lists: list[list[list[float]]] = []
        self._block_size = 8
        self._block_hits = 0
        self._last_ms: int | None = None

        # Message shapes.
        self._use_device_id = [i % 2 == 0 for i in range(len(self.sensors))]
        self._extra = [self._indoor_extra(s) if self._model.indoor[i] else {} for i, s in enumerate(self.sensors)]

        # Fault state (tick only).
        n = len(self.sensors)
        self._rng = np.random.Generator(np.random.PCG64([self.seed, 0x5EED_FA17]))
        self._offline_until = np.full(n, -np.inf)
        self._stuck_until = np.full(n, -np.inf)
        self._stuck_values: list[dict[str, float] | None] = [None] * n
        self._late: list[tuple[float, int, tuple]] = []
        self._seq = 0
        self.stats: Counter[str] = Counter()

    def _indoor_extra(self, sensor: Sensor) -> dict:
        building = sensor.name.split(" – ", 1)[-1]
        return {"building": building, "floor": int(_unit(self.seed, sensor.sensor_id, "floor") * 4)}

    # -- pure signals ---------------------------------------------------------------------------------------
    def values(self, sensor: Sensor | str, metric: str, times) -> np.ndarray:
        """Values of `metric` for `sensor` at `times` (epoch seconds UTC, any shape). Pure: depends only on
        (seed, sensor, metric, time) and the battery_drain multiplier."""
        if isinstance(sensor, str):
            sensor = self.sensors[self._index[sensor]]
        if metric not in sensor.metrics:
            raise ValueError(f"sensor {sensor.sensor_id} has no metric {metric!r}")
        times = np.round(np.asarray(times, dtype=np.float64) * 1000.0) / 1000.0  # millisecond resolution
        i = self._index.get(sensor.sensor_id)
        model = self._model
        if i is None or self.sensors[i] != sensor:
            model = self._foreign.get(sensor.sensor_id)
            if model is None or model.sensors[0] != sensor:
                model = self._foreign[sensor.sensor_id] = _Model((sensor,), self.seed, self.faults.battery_drain)
            i = 0
        flat = times.reshape(-1)
        idx = np.full(flat.shape, i, dtype=np.int64)
        out = model.evaluate(metric, model.function(metric, i), idx, _Time(flat))
        return out.reshape(times.shape)

    def _values_at(self, t: float) -> list[dict[str, float]]:
        """Per-sensor {metric: value} at `t` (quantised to the millisecond, like `values()`).

        Evaluating a handful of sensors for one instant is dominated by numpy call overhead, so ticks are
        computed in blocks: on a miss, the next instants are predicted from the last step (t, t+dt, t+2dt...)
        and evaluated in one vectorised call. Values are pure functions of time, so a hit is exactly what a
        fresh evaluation would give; the block shrinks when predictions miss (irregular tick times)."""
        ms = int(round(t * 1000.0))
        j = self._block_rows.get(ms)
        if j is None:
            last = self._last_ms
            step = ms - last if last is not None and 0 < ms - last <= 3_600_000 else 1000
            if self._block_rows:
                size = self._block_size
                self._block_size = min(16, size * 2) if self._block_hits >= size - 1 else max(1, self._block_hits + 1)
            times = (ms + step * np.arange(self._block_size, dtype=np.int64)) / 1000.0
            tm = _Time(times[:, None])
            self._block_lists = [
                self._model.evaluate(m, fn, rows[None, :], tm).tolist() for m, fn, rows in self._groups
            ]
            self._block_rows = {ms + step * k: k for k in range(self._block_size)}
            self._block_hits = 0
            j = 0
        else:
            self._block_hits += 1
        self._last_ms = ms
        lists = self._block_lists
        return [{m: _num(lists[g][j][p], d) for m, g, p, d in layout} for layout in self._layout]

    # -- live -----------------------------------------------------------------------------------------------
    def tick(self, t: float) -> list[bytes]:
        """All messages emitted at epoch `t` (UTF-8 JSON), fault injection applied."""
        t = float(t)
        values = self._values_at(t)
        iso = iso_utc(t)
        f = self.faults
        sensor_faults = f.dropout_rate > 0 or f.stuck_rate > 0 or f.spike_rate > 0 or f.late_rate > 0
        u = self._rng.random((len(self.sensors), 10)) if sensor_faults else None
        records = []
        for i, vals in enumerate(values):
            status = None
            if u is not None:
                row = u[i]
                if t < self._offline_until[i]:
                    self.stats["offline_ticks"] += 1
                    continue
                if row[0] < f.dropout_rate:
                    self._offline_until[i] = t + 30.0 + 570.0 * row[9]
                    self.stats["dropouts"] += 1
                    self.stats["offline_ticks"] += 1
                    continue
                if t < self._stuck_until[i]:
                    vals = self._stuck_values[i]
                    self.stats["stuck_messages"] += 1
                elif row[1] < f.stuck_rate:
                    self._stuck_until[i] = t + 120.0 + 1680.0 * row[8]
                    self._stuck_values[i] = vals
                    self.stats["stuck"] += 1
                if row[2] < f.spike_rate:
                    vals = self._spike(i, vals, row[5], row[6])
                    self.stats["spikes"] += 1
                    if row[7] < 0.5:
                        status = "FAULT"  # the device noticed (self-diagnosis)
                if row[3] < f.late_rate:
                    delay = 1.0 + max(f.max_late_s - 1.0, 0.0) * row[4]
                    self._seq += 1
                    heapq.heappush(self._late, (t + delay, self._seq, (i, iso, vals, status)))
                    self.stats["late"] += 1
                    continue
            records.append((i, iso, vals, status))
        while self._late and self._late[0][0] <= t:
            records.append(heapq.heappop(self._late)[2])

        messages = [m for rec in records for m in self._messages(*rec, sent_at=t)]
        if f.malformed_rate <= 0 and f.duplicate_rate <= 0:
            return [_dumps(m) for m in messages]
        draws = self._rng.random((len(messages), 3))
        out, duplicates = [], []
        for (bad, dup, which), message in zip(draws, messages, strict=True):
            payload = self._malform(message, which) if bad < f.malformed_rate else _dumps(message)
            out.append(payload)
            if dup < f.duplicate_rate:
                duplicates.append(payload)
        self.stats["duplicates"] += len(duplicates)
        return out + duplicates

    @property
    def pending_late(self) -> int:
        """Messages delayed in transit, not delivered yet."""
        return len(self._late)

    def _spike(self, i: int, vals: dict, u_metric: float, u_size: float) -> dict:
        metrics = self.sensors[i].metrics
        m = metrics[min(int(u_metric * len(metrics)), len(metrics) - 1)]
        d = METRICS[m]
        delta = (0.25 + 0.25 * u_size) * (d.valid_max - d.valid_min)
        v = vals[m] + (delta if u_size < 0.7 else -delta)
        vals = dict(vals)
        vals[m] = _num(round(min(max(v, d.valid_min), d.valid_max), DECIMALS[m]), DECIMALS[m])
        return vals

    def _status(self, vals: dict, status: str | None) -> str:
        """Device self-report: FAULT (it noticed a spike), WARNING (battery critically low, readings may
        drift), else OK. The ingestion applies it to every reading of the message."""
        if status is not None:
            return status
        battery = vals.get("battery")
        return "WARNING" if battery is not None and battery < LOW_BATTERY_WARNING else "OK"

    def _messages(self, i: int, iso: str, vals: dict, status: str | None, *, sent_at: float) -> list[dict]:
        sensor = self.sensors[i]
        if self.fmt == "single":
            id_key, metric_key = ("device_id", "type") if self._use_device_id[i] else ("sensor_id", "metric")
            out = []
            for m, v in vals.items():
                unit, value = METRICS[m].unit, v
                if self._use_device_id[i] and m in _EMIT_ALIASES:
                    unit, factor, decimals = _EMIT_ALIASES[m]
                    value = _num(round(v * factor, decimals), decimals)
                message = {"timestamp": iso, id_key: sensor.sensor_id, metric_key: m, "value": value, "unit": unit}
                message.update(self._extra[i])
                message["sent_at"] = sent_at
                out.append(message)
            return out
        if self.fmt == "ngsi" and sensor.kind in _NGSI:
            entity_type, props = _NGSI[sensor.kind]
            message = {
                "id": f"urn:ngsi-ld:{entity_type}:{sensor.sensor_id}",
                "type": entity_type,
                "@context": [NGSI_CONTEXT],
                "dateObserved": iso,
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [sensor.longitude, sensor.latitude]},
                },
            }
            for prop, m, factor, decimals in props:
                if m in vals:
                    value = _num(round(vals[m] * factor, decimals), decimals)
                    message[prop] = {"type": "Property", "value": value}
            message["sent_at"] = sent_at
            return [message]
        message = {"timestamp": iso, "sensor_id": sensor.sensor_id}
        message.update(vals)
        message["status"] = self._status(vals, status)
        message["sent_at"] = sent_at
        return [message]

    def _malform(self, message: dict, u: float) -> bytes:
        """A broken variant of `message` that the ingestion must quarantine (DESIGN.md §3)."""
        kind = MALFORMED_KINDS[min(int(u * len(MALFORMED_KINDS)), len(MALFORMED_KINDS) - 1)]
        sub = int((u * len(MALFORMED_KINDS) % 1.0) * 3)
        self.stats["malformed"] += 1
        self.stats[f"malformed:{kind}"] += 1
        m = dict(message)
        ngsi = "dateObserved" in m
        if ngsi:
            value_keys = [k for k, v in m.items() if isinstance(v, dict) and v.get("type") == "Property"]
        elif "value" in m:
            value_keys = ["value"]
        else:
            value_keys = [k for k in m if k in METRICS]
        target = value_keys[0]

        def set_value(value):
            if ngsi:
                m[target] = {**m[target], "value": value}
            else:
                m[target] = value

        if kind == "invalid_json":
            raw = _dumps(m)
            return raw[: max(1, len(raw) // 2)]
        if kind == "nan":
            set_value(float("nan"))
        elif kind == "non_numeric":
            set_value("n/a")
        elif kind == "out_of_range":
            metric = m.get("metric") or m.get("type") if target == "value" else target
            if ngsi:
                metric = next(mm for p, mm, _, _ in _NGSI_PROPS if p == target)
            d = METRICS[metric]
            set_value(d.valid_max * 1.5 + 10.0)
            if "unit" in m:
                m["unit"] = d.unit
        elif kind == "unknown_metric":
            sensor_id = m.get("sensor_id") or m.get("device_id") or str(m.get("id", "")).rsplit(":", 1)[-1]
            m = {
                "timestamp": m.get("timestamp") or m.get("dateObserved"),
                "sensor_id": sensor_id,
                "metric": "radon",
                "value": 42.0,
                "unit": "Bq/m³",
                "sent_at": m.get("sent_at"),
            }
        else:  # missing_field
            if sub == 0:
                m.pop("dateObserved" if ngsi else "timestamp", None)
            elif sub == 1:
                for k in ("id", "sensor_id", "device_id"):
                    m.pop(k, None)
            else:
                for k in value_keys:
                    m.pop(k, None)
        return json.dumps(m, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode("utf-8")

    # -- backfill -------------------------------------------------------------------------------------------
    @cached_property
    def series(self) -> tuple[tuple[str, str], ...]:
        """(sensor_id, metric) of every series code used by `history_arrays()`: codes follow the evaluation
        groups, so one group's series are consecutive codes."""
        return tuple((self.sensors[i].sensor_id, m) for m, _, rows in self._groups for i in rows.tolist())

    def history_arrays(
        self, start: float, end: float, step_s: float = 60.0, max_rows: int | None = HISTORY_CHUNK_ROWS
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Readings of every series at the instants k·step_s in [start, end) (aligned on multiples of step_s, so
        overlapping backfills produce the same keys), as arrays (time in int64 ns since the epoch, series code
        int32 into `series`, value float64), in pieces of at most ~max_rows rows (None: one piece). No faults,
        no JSON, no strings: the backfill's fast path encodes these directly."""
        if not step_s > 0:
            raise ValueError("step_s must be > 0")
        step_ns = int(round(step_s * 1e9))
        first_ns = -(-int(math.floor(start * 1e9)) // step_ns) * step_ns
        end_ns = int(math.ceil(end * 1e9))
        n_steps = max(0, -(-(end_ns - first_ns) // step_ns))
        per_chunk = n_steps if max_rows is None else max(1, max_rows // self._rows_per_instant)
        offsets = np.cumsum([0] + [len(rows) for _, _, rows in self._groups])
        for c0 in range(0, n_steps, max(per_chunk, 1)):
            t_ns = first_ns + step_ns * np.arange(c0, min(n_steps, c0 + per_chunk), dtype=np.int64)
            m_times = len(t_ns)
            tm = _Time((t_ns / 1e9)[:, None])
            values, codes, times = [], [], []
            for g, (metric, fn, rows) in enumerate(self._groups):
                values.append(self._model.evaluate(metric, fn, rows[None, :], tm).ravel())
                codes.append(np.tile(np.arange(offsets[g], offsets[g + 1], dtype=np.int32), m_times))
                times.append(np.repeat(t_ns, len(rows)))
            yield np.concatenate(times), np.concatenate(codes), np.concatenate(values)

    def history(self, start: float, end: float, step_s: float = 60.0) -> Iterator[pd.DataFrame]:
        """`history_arrays()` as frames of at most ~500k rows with columns time (datetime64[ns, UTC]),
        sensor_id, metric (str), value (float64), for the writer."""
        sensor_ids = pa.array([s for s, _ in self.series], type=pa.large_string())
        metrics = pa.array([m for _, m in self.series], type=pa.large_string())
        for t_ns, codes, values in self.history_arrays(start, end, step_s):
            index = pa.array(codes)
            yield pd.DataFrame(
                {
                    "time": pd.to_datetime(t_ns, unit="ns", utc=True),
                    "sensor_id": pd.array(sensor_ids.take(index), dtype="str"),
                    "metric": pd.array(metrics.take(index), dtype="str"),
                    "value": values,
                },
                copy=False,
            )


_NGSI_PROPS = [p for _, props in _NGSI.values() for p in props]
