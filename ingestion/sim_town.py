"""The simulator's town signals — traffic, noise, parking, street lights, buildings indoors, batteries — as a mixin
of ingestion.sim_model.SignalModel, whose per-sensor parameters (self.capacity, self.pk_urban, ...) they read."""

from __future__ import annotations

import numpy as np

from ingestion.sim_noise import DAY_S, _gauss, _Time, _uniform, _vnoise, _window


class TownSignals:
    """Every method takes sensor positions `idx` and a `_Time`; shapes broadcast (see SignalModel)."""

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
