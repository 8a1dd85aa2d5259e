"""The UI's access to data_access: one cached engine (read-only role), short-lived cached query results, and
the banner shown instead of a traceback when the database is down."""

from __future__ import annotations

import streamlit as st

from components.i18n import t
from data_access import queries
from data_access.engine import DatabaseUnavailable, make_engine
from db import settings

QUERY_TTL_S = 2  # shared by all sessions: 30 viewers refreshing every 5 s cost one query per 2 s


@st.cache_resource(show_spinner=False)
def engine():
    return make_engine(settings.database_url("reader"))


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False, max_entries=512)
def _cached(name: str, kwargs: tuple):
    return getattr(queries, name)(engine(), **dict(kwargs))


def load(name: str, **kwargs):
    """Call data_access.queries.<name>(engine, **kwargs) through the cache; on outage show the banner, stop."""
    try:
        return _cached(name, tuple(sorted(kwargs.items())))
    except DatabaseUnavailable as exc:
        st.error(t("db.unavailable", detail=str(exc)[:300]), icon=":material/cloud_off:")
        st.stop()
