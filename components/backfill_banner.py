"""The banner every page shows while a backfill writes history: how far it is (%), when it should be done (ETA)
and from when the history is already complete (it is written newest first). Called once from app.py; it polls in
its own fragment and disappears when the backfill is done. It never stops a page: without the database, or on a
database that predates migration 0011, there is simply no banner (the pages say what is wrong themselves)."""

from __future__ import annotations

import logging
from datetime import timedelta

import streamlit as st
from babel.dates import format_timedelta

from components import clock, data
from components.formatting import fmt_number, fmt_time, locale
from components.i18n import lang, t
from data_access.backfill import backfill_progress

log = logging.getLogger("madinina.dashboard")
POLL_S = 5


def _progress():
    try:
        return data._cached(
            backfill_progress.__module__, backfill_progress.__name__, (("now", clock.query_now(data.QUERY_TTL_S)),)
        )
    except Exception as exc:  # noqa: BLE001 - the banner is a courtesy: it must never break a page
        log.info("backfill banner: no progress read (%s)", str(exc).strip().splitlines()[0] if str(exc) else exc)
        return None


@st.fragment(run_every=POLL_S)
def render_backfill_banner() -> None:
    frame = _progress()
    if frame is None or frame.empty:
        return
    row = frame.iloc[0]
    total = max(int(row["readings_total"]), 1)
    share = min(1.0, int(row["readings_done"]) / total)
    eta = row["eta_s"]
    eta_text = (
        format_timedelta(timedelta(seconds=float(eta)), locale=locale(lang()), threshold=1.5)
        if eta is not None and eta == eta
        else t("backfill.eta_unknown")
    )
    since = fmt_time(row["covered_from"], lang(), with_date=True)[:16] if row["covered_from"] is not None else "—"
    text = t("backfill.banner", percent=fmt_number(100 * share, lang(), 0), eta=eta_text, since=since)
    st.info(text, icon=":material/history:")
    st.progress(share)
