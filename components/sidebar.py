"""The shared frame: language, refresh interval, time range and the commune / kind / sensor / metric filters.

State model. Every preference lives in a plain session key (``lang``, ``refresh_s``, ``f_range`` ...); the widgets
are keyed (their identity is the key, so a translated label never resets them) and start from that key; after
rendering, the key takes the widget's value. On the first run of a session the keys are read from the URL, and
at the end of every run they are written back to ``st.query_params``: a copied URL reopens the same view.

URL parameters: ``lang`` (fr|en), ``refresh`` (0|5|10|30|60), ``range`` (15m|1h|6h|24h|7d|30d|custom), ``from`` /
``to`` (custom range, Martinique local time ``YYYY-MM-DDTHH:MM``), ``commune``, ``kind``, ``sensor`` (repeatable),
``metric``. Every value is parsed by components.inputs: an invalid or out-of-range one is ignored (the default is
used) with a plain-text notice, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components import clock, identity, inputs
from components.i18n import LANG_NAMES, LANGS, lang, t
from components.inputs import LOCAL, local_to_utc
from components.names import display_names
from data_access.engine import DatabaseUnavailable

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


# -- pure helpers (unit-tested) ---------------------------------------------------------------------------------
def _now() -> datetime:
    return clock.now()


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
    return inputs.parse_local_time(text, now or _now())


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


# -- Streamlit ----------------------------------------------------------------------------------------------------
def _url_lists() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def lang_key(name: str) -> str:
    """Widget key for a widget whose option labels are translated. The browser keeps a widget's value as its
    shown label, so after a language switch such a widget must be a new one (created from the stored preference)
    or it would keep showing labels of the other language."""
    return f"{name}_{lang()}"


def _keep(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


@st.cache_data(ttl=10, show_spinner=False)
def _catalogue():
    """Sensors (with the metrics each reports) and metrics, cached briefly for all sessions. A database outage
    raises DatabaseUnavailable (never cached)."""
    from components.data import engine
    from data_access import live, queries

    return live.sensor_catalogue(engine()), queries.metrics(engine())


def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sensors and metrics the sidebar built its filters from (cached 10 s for all sessions), for a page that
    needs them too: read again through load() they would cost two more statements per run (issue 11). During an
    outage the page shows load()'s self-healing banner and stops."""
    from components.data import db_down_banner

    try:
        return _catalogue()
    except DatabaseUnavailable as exc:
        db_down_banner(exc)
        st.stop()


def _range_label(key: str) -> str:
    return t(f"sidebar.range.{key}")


def render_sidebar() -> None:
    ss = st.session_state
    # Preferences live in plain session keys; widgets start from them. A widget whose label is translated can be
    # re-created on a language switch, and must then start from the preference, not reset.
    if "lang" not in ss:
        ss["lang"] = inputs.param_choice("lang", LANGS, "fr")
    if "refresh_s" not in ss:
        ss["refresh_s"] = inputs.param_int_choice("refresh", REFRESH_CHOICES, 5)
    with st.sidebar:
        st.markdown(f"### {t('app.title')}")
        st.caption(t("app.tagline"))
        identity.login_controls()
        st.radio(
            t("sidebar.language"),
            LANGS,
            index=LANGS.index(ss["lang"]),
            format_func=LANG_NAMES.get,
            key="sidebar_lang",
            horizontal=True,
            on_change=_keep,
            args=("sidebar_lang", "lang"),
        )
        st.selectbox(
            t("sidebar.refresh"),
            REFRESH_CHOICES,
            index=REFRESH_CHOICES.index(ss["refresh_s"]),
            key=lang_key("sidebar_refresh"),
            on_change=_keep,
            args=(lang_key("sidebar_refresh"), "refresh_s"),
            format_func=lambda s: t("refresh.off") if s == 0 else (f"{s} s" if s < 60 else "1 min"),
        )
    # Written before the catalogue is read: during a database outage the sidebar ends there, other parameters stay.
    for name, value in (("lang", ss["lang"]), ("refresh", str(ss["refresh_s"]))):
        if st.query_params.get(name) != value:
            st.query_params[name] = value

    try:
        catalogue, metrics = _catalogue()
    except DatabaseUnavailable:
        # The page shows the outage banner; navigation must still be built (app.py goes on), so no stop here. The
        # filters come back, from the URL, once the database answers.
        return
    now = _now()
    if "f_range" not in ss:
        rejected: list[str] = []
        ss.update(state_from_url(_url_lists(), catalogue, metrics, now, rejected))
        for name in rejected:
            inputs.reject(name)

    with st.sidebar:
        st.divider()
        ss["f_range"] = st.selectbox(
            t("sidebar.range"),
            RANGE_KEYS,
            index=RANGE_KEYS.index(ss["f_range"]),
            format_func=_range_label,
            key=lang_key("sb_range"),
        )
        if ss["f_range"] == "custom":
            fmt = "DD/MM/YYYY" if lang() == "fr" else "YYYY/MM/DD"
            bounds = dict(min_value=inputs.DATE_MIN, max_value=inputs.date_max(now), format=fmt, step=60)
            start = st.datetime_input(
                t("sidebar.from"), value=ss["f_from"], key="sb_from", help=t("sidebar.local"), **bounds
            )
            end = st.datetime_input(t("sidebar.to"), value=ss["f_to"], key="sb_to", help=t("sidebar.local"), **bounds)
            if start is not None and end is not None:  # the widget's bounds are the browser's: clamp here too
                start, end = inputs.clamp_local(start, now), inputs.clamp_local(end, now)
            if start is not None and end is not None and start < end:
                ss["f_from"], ss["f_to"] = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
            else:
                st.warning(t("sidebar.bad_range"), icon=":material/warning:")

        communes = sorted(set(catalogue["commune"])) if not catalogue.empty else []
        kinds = sorted(set(catalogue["kind"]), key=lambda k: t(f"kind.{k}")) if not catalogue.empty else []
        ss["f_communes"] = tuple(
            st.multiselect(
                t("sidebar.communes"),
                communes,
                default=[c for c in ss["f_communes"] if c in communes],
                placeholder=t("sidebar.all_f"),
                key="sb_communes",
            )
        )
        ss["f_kinds"] = tuple(
            st.multiselect(
                t("sidebar.kinds"),
                kinds,
                default=[k for k in ss["f_kinds"] if k in kinds],
                format_func=lambda k: t(f"kind.{k}"),
                placeholder=t("sidebar.all_m"),
                key=lang_key("sb_kinds"),
            )
        )
        narrowed = narrow(catalogue, ss["f_communes"], ss["f_kinds"])
        names = display_names(catalogue)
        ss["f_sensors"] = tuple(
            st.multiselect(
                t("sidebar.sensors"),
                list(narrowed),
                default=[s for s in ss["f_sensors"] if s in narrowed],
                format_func=lambda s: names.get(s, s),
                placeholder=t("sidebar.sensors_all", n=len(narrowed)),
                key="sb_sensors",
            )
        )
        options = metric_options(catalogue, metrics, ss["f_sensors"] or narrowed)
        labels = _metric_labels(metrics)
        if options:
            current = ss["f_metric"] if ss["f_metric"] in options else None
            if current is None:
                current = DEFAULT_METRIC if DEFAULT_METRIC in options else options[0]
            ss["f_metric"] = st.selectbox(
                t("sidebar.metric"),
                options,
                index=options.index(current),
                format_func=lambda m: labels.get(m, m),
                key=lang_key("sb_metric"),
            )
        else:
            ss["f_metric"] = None
        st.caption(t("sidebar.timezone"))

    sync_url(url_params(ss))


MANAGED_PARAMS = ("lang", "refresh", "range", "from", "to", "commune", "kind", "sensor", "metric")


def sync_url(wanted: dict[str, str | list[str]]) -> None:
    """Write the shared parameters to the URL, touching only those that changed (other parameters belong to
    pages and are left alone)."""
    for name in MANAGED_PARAMS:
        value = wanted.get(name)
        current = st.query_params.get_all(name)
        target = [] if value is None else [value] if isinstance(value, str) else list(value)
        if current == target:
            continue
        if target:
            st.query_params[name] = target if len(target) > 1 else target[0]
        elif name in st.query_params:
            del st.query_params[name]


def _metric_labels(metrics: pd.DataFrame) -> dict[str, str]:
    if metrics is None or metrics.empty:
        return {}
    column = "label_fr" if lang() == "fr" else "label_en"
    return {row.metric: f"{getattr(row, column)} ({row.unit})" for row in metrics.itertuples()}


def ensure_entrypoint() -> None:
    """Call first in every page script. With a `pages/` folder beside app.py, Streamlit serves each page script on
    its own ("multipage v1") until some session has run app.py's st.navigation: a shared URL such as /trends?...
    opened first after a server start would show the page without the shared sidebar and filters. Switch the
    server to app.py's navigation and rerun this session: the same page (same url_path hash) then runs inside the
    shared frame. No-op in the normal case."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - Streamlit internals moved; the renamed-folder fix makes this moot
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def set_custom_range(start_local: datetime, end_local: datetime) -> None:
    """Make [start, end) (naive Martinique times) the shared range, as if chosen in the sidebar: the state keys and
    the range widgets' own keys (a widget keeps its value over its default). Call from a widget callback, before
    the sidebar's widgets are drawn; the URL follows at the end of the run (sync_url)."""
    ss = st.session_state
    ss.update(f_range="custom", f_from=start_local, f_to=end_local)
    ss.update({lang_key("sb_range"): "custom", "sb_from": start_local, "sb_to": end_local})


def refresh_interval() -> int | None:
    seconds = st.session_state.get("refresh_s", 5)
    return seconds or None


def current_filters() -> Filters:
    """The filter state chosen in the sidebar (defaults before the sidebar ran: last 24 h, everything)."""
    return filters_from_state(st.session_state, _now())
