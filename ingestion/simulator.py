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
from ingestion.sim_model import DECIMALS, SignalModel
from ingestion.sim_noise import _Time, _unit

FORMATS = ("multi", "single", "ngsi")
HISTORY_CHUNK_ROWS = 500_000
LOW_BATTERY_WARNING = 10.0  # % below which a device reports status WARNING

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
        self._model = SignalModel(self.sensors, self.seed, self.faults.battery_drain)
        self._index = {s.sensor_id: i for i, s in enumerate(self.sensors)}
        self._foreign: dict[str, SignalModel] = {}

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
                model = self._foreign[sensor.sensor_id] = SignalModel((sensor,), self.seed, self.faults.battery_drain)
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
