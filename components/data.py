"""The UI's access to data_access: one cached engine (read-only role), short-lived cached query results, and
the banner shown instead of a traceback when the database is down."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import streamlit as st

from components.i18n import t
from data_access.engine import DatabaseUnavailable, make_engine
from db import settings

QUERY_TTL_S = 2  # shared by all sessions: 30 viewers refreshing every 5 s cost one query per 2 s


@st.cache_resource(show_spinner=False)
def engine():
    return make_engine(settings.database_url("reader"))


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False, max_entries=1024)
def _cached(module: str, name: str, kwargs: tuple):
    fn = getattr(importlib.import_module(module), name)
    return fn(engine(), **dict(kwargs))


def load(fn: Callable | str, **kwargs):
    """Call a data_access read function fn(engine, **kwargs) through the shared cache (a bare name means
    data_access.queries.<name>). Keyword values must be hashable (tuples, not lists). On a database outage
    the page shows the banner and stops: never a traceback."""
    module, name = ("data_access.queries", fn) if isinstance(fn, str) else (fn.__module__, fn.__name__)
    try:
        return _cached(module, name, tuple(sorted(kwargs.items())))
    except DatabaseUnavailable as exc:
        db_down_banner(exc)
        st.stop()


def db_down_banner(exc: Exception) -> None:
    st.error(t("db.unavailable", detail=str(exc)[:300]), icon=":material/cloud_off:")
