"""The shared filter state and its URL form, without Streamlit (unit-tested): time range presets, the Filters every
page reads, and the parsing of URL parameters against the catalogue (components.sidebar renders the widgets and keeps
the state in the session and the URL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from components import clock, inputs
from components.inputs import LOCAL, local_to_utc

REFRESH_CHOICES = (0, 5, 10, 30, 60)  # seconds; 0 = off
RANGE_PRESETS = {"15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
RANGE_KEYS = (*RANGE_PRESETS, "custom")
DEFAULT_RANGE = "24h"
DEFAULT_METRIC = "temperature"
URL_TIME_FORMAT = "%Y-%m-%dT%H:%M"

# Session keys holding the filter state (the widgets have their own keys, prefixed "sb_").
_STATE_KEYS = ("f_range", "f_from", "f_to", "f_communes", "f_kinds", "f_sensors", "f_metric")


@dataclass(frozen=True)
class Filters:
    """The shared filter state every page reads (set by the sidebar, mirrored in the URL)."""

    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    range_key: str  # one of RANGE_PRESETS or "custom"
    communes: tuple[str, ...] = ()  # empty = all
    kinds: tuple[str, ...] = ()  # empty = all
    sensor_ids: tuple[str, ...] = ()  # empty = all matching communes/kinds
    metric: str | None = None

    def matching_sensors(self, catalogue: pd.DataFrame) -> tuple[str, ...]:
        """The sensors this view is about: the chosen ones, else every sensor of the chosen communes/kinds."""
        if self.sensor_ids:
            return self.sensor_ids
        return narrow(catalogue, self.communes, self.kinds)


def preset_window(range_key: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a preset ending now. The end is floored (1 s up to 1 h, 10 s up to 24 h, 1 min beyond) so
    that sessions opened at the same moment share cached query results."""
    span = RANGE_PRESETS[range_key]
    grain = 1 if span <= 3600 else 10 if span <= 86400 else 60
    end = datetime.fromtimestamp(int(now.timestamp()) // grain * grain, UTC)
    return end - timedelta(seconds=span), end


def parse_local(text: str | None, now: datetime | None = None) -> datetime | None:
    """'YYYY-MM-DDTHH:MM' (Martinique local time) -> naive local datetime; None when absent, malformed or out of
    range (components.inputs.parse_local_time)."""
    return inputs.parse_local_time(text, now or clock.now())


def default_custom(now: datetime) -> tuple[datetime, datetime]:
    """The custom range proposed first: the last 24 h, in whole local minutes."""
    end = now.astimezone(LOCAL).replace(tzinfo=None, second=0, microsecond=0)
    return end - timedelta(days=1), end


def narrow(catalogue: pd.DataFrame, communes, kinds) -> tuple[str, ...]:
    """Sensor ids of the catalogue in the given communes and kinds (empty selection = all)."""
    if catalogue is None or catalogue.empty:
        return ()
    mask = pd.Series(True, index=catalogue.index)
    if communes:
        mask &= catalogue["commune"].isin(list(communes))
    if kinds:
        mask &= catalogue["kind"].isin(list(kinds))
    return tuple(catalogue.loc[mask, "sensor_id"])


def metric_options(catalogue: pd.DataFrame, metrics: pd.DataFrame, sensor_ids) -> list[str]:
    """Metrics the given sensors report (from their latest readings); every known metric when none reported."""
    known = list(metrics["metric"]) if metrics is not None and not metrics.empty else []
    if catalogue is None or catalogue.empty or "metrics" not in catalogue:
        return known
    rows = catalogue[catalogue["sensor_id"].isin(list(sensor_ids))]
    reported = {m for ms in rows["metrics"] for m in (ms or ())}
    shown = [m for m in known if m in reported]
    return shown or known


def state_from_url(
    params: dict[str, list[str]],
    catalogue: pd.DataFrame,
    metrics: pd.DataFrame,
    now: datetime,
    rejected: list[str] | None = None,
):
    """Initial filter state from URL parameters (each a list of strings), validated against the catalogue. The
    names of the parameters ignored are appended to `rejected`."""
    rejected = [] if rejected is None else rejected

    def one(name):
        values = params.get(name) or []
        return values[-1] if values else None

    def ids(name, allowed):
        values = params.get(name) or []
        kept = inputs.parse_ids(values, allowed)
        if len(kept) < len(set(values)):
            rejected.append(name)
        return kept

    communes_all = set(catalogue["commune"]) if catalogue is not None and not catalogue.empty else set()
    kinds_all = set(catalogue["kind"]) if catalogue is not None and not catalogue.empty else set()
    sensors_all = set(catalogue["sensor_id"]) if catalogue is not None and not catalogue.empty else set()
    communes = ids("commune", communes_all)
    kinds = ids("kind", kinds_all)
    allowed_sensors = set(narrow(catalogue, communes, kinds))
    sensors = ids("sensor", sensors_all & allowed_sensors)
    range_key = inputs.parse_choice(one("range"), RANGE_KEYS)
    start_local, end_local = parse_local(one("from"), now), parse_local(one("to"), now)
    for name, value in (("range", range_key), ("from", start_local), ("to", end_local)):
        if value is None and one(name) is not None:
            rejected.append(name)
    range_key = range_key or DEFAULT_RANGE
    if start_local is None or end_local is None or start_local >= end_local:
        start_local, end_local = default_custom(now)
    options = metric_options(catalogue, metrics, sensors or narrow(catalogue, communes, kinds))
    wanted = inputs.parse_choice(one("metric"), options)
    if wanted is None and one("metric") is not None:
        rejected.append("metric")
    metric = wanted or (DEFAULT_METRIC if DEFAULT_METRIC in options else None)
    if metric is None and options:
        metric = options[0]
    return {
        "f_range": range_key,
        "f_from": start_local,
        "f_to": end_local,
        "f_communes": communes,
        "f_kinds": kinds,
        "f_sensors": sensors,
        "f_metric": metric,
    }


def url_params(state: dict) -> dict[str, str | list[str]]:
    """The URL parameters of a state (only what differs from nothing: empty lists are left out)."""
    params: dict[str, str | list[str]] = {
        "lang": state.get("lang", "fr"),
        "refresh": str(state.get("refresh_s", 5)),
        "range": state["f_range"],
    }
    if state["f_range"] == "custom":
        params["from"] = state["f_from"].strftime(URL_TIME_FORMAT)
        params["to"] = state["f_to"].strftime(URL_TIME_FORMAT)
    for name, key in (("commune", "f_communes"), ("kind", "f_kinds"), ("sensor", "f_sensors")):
        if state[key]:
            params[name] = list(state[key])
    if state.get("f_metric"):
        params["metric"] = state["f_metric"]
    return params


def filters_from_state(state, now: datetime) -> Filters:
    range_key = state.get("f_range", DEFAULT_RANGE)
    if range_key == "custom" and state.get("f_from") and state.get("f_to") and state["f_from"] < state["f_to"]:
        start, end = local_to_utc(state["f_from"]), local_to_utc(state["f_to"])
    else:
        if range_key not in RANGE_PRESETS:
            range_key = DEFAULT_RANGE
        start, end = preset_window(range_key, now)
    return Filters(
        start=start,
        end=end,
        range_key=range_key,
        communes=tuple(state.get("f_communes", ())),
        kinds=tuple(state.get("f_kinds", ())),
        sensor_ids=tuple(state.get("f_sensors", ())),
        metric=state.get("f_metric"),
    )
