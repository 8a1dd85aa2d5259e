"""The backfill banner (components/backfill_banner.py) through app.py in AppTest on real PostgreSQL: shown with %
and ETA while a run reports, gone when it is done or its process stopped reporting (a stale row)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.support.page_seed import pin_clock, pinned_now

APP = str(Path(__file__).resolve().parents[2] / "app.py")
NOW = pinned_now()


@pytest.fixture
def run_app(monkeypatch, db_url):
    def run(lang: str = "fr") -> AppTest:
        pin_clock(monkeypatch, NOW)
        monkeypatch.setenv("DATABASE_URL", db_url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params = {"lang": lang}
        return at.run()

    yield run
    st.cache_data.clear()
    st.cache_resource.clear()


def progress_row(conn, *, state="running", updated=NOW, done=584_892, total=2_339_568, eta=12.0):
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO backfill_progress (run_id, state, phase, range_start, range_end, readings_total,
                                              readings_done, covered_from, eta_s, updated_at)
               VALUES ('backfill-test', %s, 'last_24h', %s, %s, %s, %s, %s, %s, %s)""",
            (state, NOW - timedelta(days=7), NOW, total, done, NOW - timedelta(hours=20), eta, updated),
        )


def banners(at: AppTest) -> list[str]:
    return [i.value for i in at.info if "%" in i.value]


def test_banner_while_running_in_both_languages(conn, run_app):
    progress_row(conn)
    (fr,) = banners(run_app("fr"))
    assert "25 %" in fr and "12\u00a0secondes" in fr and "Historique" in fr
    (en,) = banners(run_app("en"))
    assert "25 %" in en and "12 seconds" in en.replace("\u00a0", " ") and "History" in en


@pytest.mark.parametrize("state, age_s", [("done", 0), ("running", 120)])
def test_no_banner_when_done_or_stale(conn, run_app, state, age_s):
    progress_row(conn, state=state, updated=NOW - timedelta(seconds=age_s))
    at = run_app()
    assert not at.exception
    assert banners(at) == []
