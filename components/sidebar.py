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

from datetime import datetime

import pandas as pd
import streamlit as st

from components import clock, identity, inputs
from components.filters import (
    DEFAULT_METRIC,
    RANGE_KEYS,
    REFRESH_CHOICES,
    Filters,
    filters_from_state,
    metric_options,
    narrow,
    state_from_url,
    url_params,
)
from components.i18n import LANG_NAMES, LANGS, lang, t
from components.names import display_names
from data_access.engine import DatabaseUnavailable


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
    now = clock.now()
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
    return filters_from_state(st.session_state, clock.now())
