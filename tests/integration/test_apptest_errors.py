"""The last-resort handler, through the real app.py in AppTest on real PostgreSQL: an unexpected exception in a page
(a data_access read made to fail) shows a short FR/EN message with a correlation id and no exception element, no
trace, no server path; the server log holds the full trace under the same id. The shipped config hides Streamlit's
own error details (client.showErrorDetails = "none")."""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components.filters import Filters
from data_access import live
from tests.support.page_seed import pin_clock, pinned_now, seed_history

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
SECRET = "/srv/secret/path.py line 42 SELECT * FROM sensors"


@pytest.fixture
def app_env(monkeypatch, pg_cluster, db_name):
    url = pg_cluster.url(db_name)
    now = pinned_now()
    seed_history(url, hours=0.5, now=now)

    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    st.set_option("client.showErrorDetails", shipped)  # as deployed, whatever an earlier test in this process set

    def start(params: dict) -> AppTest:
        pin_clock(monkeypatch, now)
        monkeypatch.setenv("DATABASE_URL", url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=90)
        at.query_params = params
        return at.run()

    yield start
    st.cache_data.clear()
    st.cache_resource.clear()


def boom(*_args, **_kwargs):
    raise RuntimeError(SECRET)


@pytest.mark.parametrize(
    ("lang", "target", "name"),
    [
        ("fr", Filters, "matching_sensors"),  # the page itself fails: app.py's handler around navigation.run()
        ("en", Filters, "matching_sensors"),
        ("fr", live, "status_counts"),  # a live fragment fails: its own guard (fragment reruns skip app.py)
    ],
)
def test_an_unexpected_error_shows_a_correlation_id_and_logs_the_trace(
    app_env, monkeypatch, caplog, lang, target, name
):
    monkeypatch.setattr(target, name, boom)
    with caplog.at_level(logging.ERROR, logger="madinina.dashboard"):
        at = app_env({"lang": lang})
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    expected = "Une erreur inattendue" if lang == "fr" else "An unexpected error"
    shown = [e for e in errors if e.startswith(expected)]
    assert len(shown) == 1, errors
    correlation = re.search(r"([0-9a-f]{12})$", shown[0]).group(1)
    assert SECRET not in " ".join(errors) and "Traceback" not in " ".join(errors)
    logged = [r for r in caplog.records if correlation in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info and SECRET in str(logged[0].exc_info[1])
    assert at.title and at.sidebar.radio(key="sidebar_lang").value == lang  # the frame around the page is intact


def test_a_working_page_shows_no_error(app_env):
    at = app_env({})
    assert not at.exception and not at.error
    assert at.title[0].value == "Temps réel"


def test_the_shipped_config_hides_error_details():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
