"""Hashing, noise and calendar primitives of the simulator's signals (ingestion/sim_model.py): every random-looking
part of a signal is a pure function of a 64-bit key and an integer time slot, so values are the same in any order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cached_property

import numpy as np

LOCAL_OFFSET_S = -4 * 3600  # America/Martinique
DAY_S = 86400.0

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
