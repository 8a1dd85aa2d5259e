"""The UI's access to data_access: one cached engine (read-only role), short-lived cached query results, and
the banner shown instead of a traceback when the database is down — a banner that heals itself: it polls the
database and reruns the page as soon as it answers again."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import cache

import sqlalchemy as sa
import streamlit as st

from components import clock
from components.i18n import t
from components.text import md_escape, scrub_paths
from data_access.engine import DatabaseUnavailable, make_engine
from db import settings

QUERY_TTL_S = 2  # shared by all sessions: 30 viewers refreshing every 5 s cost one query per 2 s
RECOVERY_POLL_S = 5  # the outage banner checks the database this often when the page refresh is off


@st.cache_resource(show_spinner=False)
def engine():
    return make_engine(settings.database_url("reader"))


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False, max_entries=1024)
def _cached(module: str, name: str, kwargs: tuple):
    fn = getattr(importlib.import_module(module), name)
    return fn(engine(), **dict(kwargs))


@cache
def _takes_now(module: str, name: str) -> bool:
    fn = getattr(importlib.import_module(module), name)
    return "now" in inspect.signature(fn).parameters


def load(fn: Callable | str, **kwargs):
    """Call a data_access read function fn(engine, **kwargs) through the shared cache (a bare name means
    data_access.queries.<name>). Keyword values must be hashable (tuples, not lists). A read that takes `now` gets
    the dashboard clock's (components.clock), so every page decision and every read agree on one instant. On a
    database outage the page shows the self-healing banner and stops: never a traceback."""
    module, name = ("data_access.queries", fn) if isinstance(fn, str) else (fn.__module__, fn.__name__)
    if "now" not in kwargs and _takes_now(module, name):
        kwargs["now"] = clock.query_now(QUERY_TTL_S)
    try:
        return _cached(module, name, tuple(sorted(kwargs.items())))
    except DatabaseUnavailable as exc:
        db_down_banner(exc)
        st.stop()


def database_answers() -> bool:
    try:
        with engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet": the banner stays and polls again
        return False


def db_down_banner(exc: Exception) -> None:
    """The outage banner. It lives in its own fragment that reruns every refresh interval (or RECOVERY_POLL_S when
    the refresh is off) and reruns the whole page once the database answers: a page opened during an outage
    recovers by itself, and so does a page whose live panel lost the database (the banner is then a fragment
    nested in that panel's; the full rerun brings back every part the st.stop() below skipped)."""
    text = t("db.unavailable", detail=md_escape(scrub_paths(exc)[:300]))
    interval = st.session_state.get("refresh_s") or RECOVERY_POLL_S

    @st.fragment(run_every=interval)
    def banner() -> None:
        if st.session_state.get("_db_banner_armed") and database_answers():
            st.session_state.pop("_db_banner_armed", None)
            st.rerun(scope="app")
        st.session_state["_db_banner_armed"] = True
        st.error(text, icon=":material/cloud_off:")

    banner()
