"""One AppTest harness for the tests that run a page with its real sidebar (fuzz, injection): the page file run
after render_sidebar(), error details on so that an exception is visible to the test, the dashboard clock pinned."""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.support.page_seed import pin_clock

ROOT = Path(__file__).resolve().parents[2]


def harness(page: str) -> str:
    return f"""
import runpy
import streamlit as st
st.set_option("client.showErrorDetails", "full")
from components.sidebar import render_sidebar
render_sidebar()
runpy.run_path({str(ROOT / "pages" / f"{page}.py")!r}, run_name="__page__")
"""


def page_runner(url: str, now, monkeypatch):
    """run(page, params) -> the AppTest after one run of that page on `url`, the clock pinned at `now`."""

    def run(page: str, params: dict) -> AppTest:
        pin_clock(monkeypatch, now)
        monkeypatch.setenv("DATABASE_URL", url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_string(harness(page), default_timeout=90)
        at.query_params = params
        return at.run()

    return run


def restore_shipped_settings() -> None:
    """The harness's "full" error details must not outlive a test: back to the shipped value, caches cleared."""
    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    st.set_option("client.showErrorDetails", shipped)
    st.cache_data.clear()
    st.cache_resource.clear()


def seeded_pages_db(pg_cluster, *, hostile: bool = False) -> tuple[str, object]:
    """A fresh database with what every page shows (2 h of history, alerts, pipeline KPIs and quarantine; with
    `hostile`, the hostile texts of page_seed.seed_hostile too), seeded relative to a pinned instant.
    Returns (url, that instant)."""
    import psycopg2

    from tests.support.page_seed import FDF_AQ, pinned_now, seed_alerts, seed_history, seed_hostile, seed_pipeline

    now = pinned_now()
    url = pg_cluster.url(pg_cluster.fresh_database())
    seed_history(url, hours=2, now=now)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        seed_alerts(conn, FDF_AQ[0], now=now)
        seed_pipeline(conn, now)
        if hostile:
            seed_hostile(conn, now)
    finally:
        conn.close()
    return url, now
