"""The simulator's signal model: per-sensor parameters drawn from the seed and each sensor's tags, and the vectorised
signal of every metric — weather and air quality here, the town's signals in ingestion/sim_town.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ingestion.catalogue import METRICS, Sensor
from ingestion.sim_noise import DAY_S, _episode, _gauss, _key, _Time, _uniform, _unit, _vnoise
from ingestion.sim_town import TownSignals

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


class SignalModel(TownSignals):
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
