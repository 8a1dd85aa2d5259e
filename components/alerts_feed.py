"""The live alert feed: a table drawn inside the page's auto-refreshing fragment, with each alert's state (open,
silenced, closed, resolved by someone), assignee and acknowledgement. The actions on alerts are in
components/alert_actions.py, their history in components/alert_history.py.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import SEVERITY_BACKGROUNDS
from components.data import load
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, t
from components.names import place
from data_access import alerts

FEED_LIMIT = 50


def _metric_label(row) -> str:
    if row.metric is None or pd.isna(row.metric):
        return "—"
    label = row.label_fr if lang() == "fr" else row.label_en
    return label if isinstance(label, str) else row.metric


def feed_table(sensor_ids: tuple[str, ...]) -> None:
    """The feed as a table (open first, most severe first), with a caption of the open counts."""
    st.subheader(t("alerts.title"))
    feed = load(alerts.feed, sensor_ids=sensor_ids, limit=FEED_LIMIT)
    if feed.empty:
        st.info(t("alerts.none"), icon=":material/notifications_off:")
        return
    open_rows = feed[feed["is_open"]]
    st.caption(t("alerts.caption", open=len(open_rows), unack=int(open_rows["acknowledged_at"].isna().sum())))
    decimals = 1
    unit = feed["unit"].where(feed["unit"].notna(), "")
    table = pd.DataFrame(
        {
            t("alerts.col.severity"): [t(f"severity.{s}") for s in feed["severity"]],
            t("alerts.col.state"): [_state(r) for r in feed.itertuples()],
            t("alerts.col.opened"): [fmt_time(v, lang(), with_date=True) for v in feed["opened_at"]],
            t("col.sensor"): [_short_name(r) for r in feed.itertuples()],
            t("alerts.col.alert"): [
                f"{t(f'alerts.kind.{r.kind}')} · {_metric_label(r)}"
                if isinstance(r.metric, str)
                else t(f"alerts.kind.{r.kind}")
                for r in feed.itertuples()
            ],  # fmt: skip
            t("alerts.col.value"): [
                "—"
                if pd.isna(v)
                else f"{fmt_number(float(v), lang(), decimals)} {u}".strip()
                + ("" if pd.isna(th) else f" ({t('alerts.threshold_short')} {fmt_number(float(th), lang(), decimals)})")
                for v, th, u in zip(feed["value"], feed["threshold"], unit, strict=True)
            ],
            t("alerts.col.ack"): [
                ""
                if pd.isna(at)
                else f"✔ {by} · {fmt_time(at, lang(), with_date=True)}" + (f" — {c}" if isinstance(c, str) else "")
                for at, by, c in zip(feed["acknowledged_at"], feed["acknowledged_by"], feed["ack_comment"], strict=True)
            ],
            t("alerts.col.assignee"): feed["assignee"].where(feed["assignee"].notna(), ""),
            t("alerts.col.message"): feed["message"],
            "#": feed["alert_id"],
        }
    )
    backgrounds = [f"background-color: {SEVERITY_BACKGROUNDS[s]}" for s in feed["severity"]]
    styled = table.style.apply(lambda _: backgrounds, subset=[t("alerts.col.severity")], axis=0)
    st.dataframe(styled, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)))


def _state(row) -> str:
    """open / open · silenced / closed at … / resolved by … at …."""
    if row.is_open:
        return t("alerts.state.open") + (f" · {t('alerts.state.silenced')}" if row.silenced else "")
    time = fmt_time(row.closed_at, lang())
    if isinstance(row.resolved_by, str):
        return t("alerts.state.resolved", time=time, by=row.resolved_by)
    return t("alerts.state.closed", time=time)


def _short_name(row) -> str:
    """'Qualité de l'air – Fort-de-France Bishop' -> 'Fort-de-France Bishop' (the kind is in the alert column)."""
    return place(row.sensor_name, row.sensor_id)


def option_label(row) -> str:
    """One alert as a choice in a form: number, severity, sensor, metric, opening time, who acknowledged it."""
    ack = f" · ✔ {row.acknowledged_by}" if isinstance(row.acknowledged_by, str) else ""
    return (
        f"#{row.alert_id} · {t(f'severity.{row.severity}')} · "
        f"{_short_name(row)} · {_metric_label(row)} · "
        f"{fmt_time(row.opened_at, lang(), with_date=True)}{ack}"
    )
