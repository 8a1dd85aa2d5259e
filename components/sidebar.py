"""The shared sidebar: language and refresh interval (state kept in st.session_state and the URL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from components.i18n import LANG_NAMES, LANGS, t

REFRESH_CHOICES = (0, 5, 10, 30, 60)  # seconds; 0 = off


def _from_url(key: str, allowed, default):
    raw = st.query_params.get(key)
    try:
        value = type(default)(raw) if raw is not None else default
    except (TypeError, ValueError):
        return default
    return value if value in allowed else default


def _keep(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


def render_sidebar() -> None:
    # Preferences live in plain session keys; widgets only edit them through on_change. A widget whose label
    # is translated can be re-created on a language switch, and must then start from the preference, not reset.
    if "lang" not in st.session_state:
        st.session_state["lang"] = _from_url("lang", LANGS, "fr")
    if "refresh_s" not in st.session_state:
        st.session_state["refresh_s"] = _from_url("refresh", REFRESH_CHOICES, 5)
    with st.sidebar:
        st.markdown(f"### {t('app.title')}")
        st.caption(t("app.tagline"))
        st.radio(
            t("sidebar.language"),
            LANGS,
            index=LANGS.index(st.session_state["lang"]),
            format_func=LANG_NAMES.get,
            key="sidebar_lang",
            horizontal=True,
            on_change=_keep,
            args=("sidebar_lang", "lang"),
        )
        st.selectbox(
            t("sidebar.refresh"),
            REFRESH_CHOICES,
            index=REFRESH_CHOICES.index(st.session_state["refresh_s"]),
            key="sidebar_refresh",
            on_change=_keep,
            args=("sidebar_refresh", "refresh_s"),
            format_func=lambda s: t("refresh.off") if s == 0 else (f"{s} s" if s < 60 else "1 min"),
        )
        st.caption(t("sidebar.timezone"))
    st.query_params["lang"] = st.session_state["lang"]
    st.query_params["refresh"] = str(st.session_state["refresh_s"])


def refresh_interval() -> int | None:
    seconds = st.session_state.get("refresh_s", 5)
    return seconds or None


RANGE_PRESETS = {"15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}


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


def current_filters() -> Filters:
    """Interim default (last 24 h, everything) until the sidebar grows its filter widgets."""
    end = datetime.now(UTC)
    return Filters(start=end - timedelta(seconds=RANGE_PRESETS["24h"]), end=end, range_key="24h")
