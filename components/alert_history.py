"""The alert history (alert_events) and the silences, as tables on the Live feed and the Sensor page.

Every string here that comes from the database (actors, comments, reasons, assignees, sensor names) is shown in a
dataframe cell, which renders it as plain text; nothing of theirs reaches markdown."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from components import clock
from components.data import load
from components.i18n import metric_label, t
from components.sensor_panels import alert_table, stamp
from data_access import alerts

SILENCE_ACTIONS = ("silenced", "unsilenced")
LIVE_HOURS = 24
LIVE_LIMIT = 200
SENSOR_LIMIT = 300


def _subject(row) -> str:
    """What the event is about: the alert's kind and metric, or the silence's scope."""
    metric = metric_label(row) if isinstance(row["metric"], str) and isinstance(row["label_fr"], str) else None
    if pd.isna(row["alert_id"]):
        return metric or t("silence.whole_sensor")
    kind = t(f"alerts.kind.{row['kind']}") if isinstance(row["kind"], str) else ""
    return f"{kind} · {metric}" if metric else kind


def _detail(row) -> str:
    """The event's particulars (assignee, severities, silence window) followed by its comment or reason."""
    details = row["details"] if isinstance(row["details"], dict) else {}
    action, part = row["action"], ""
    if action == "assigned":
        part = t("events.detail.assigned", name=details.get("assignee") or "—")
    elif action == "unassigned":
        part = t("events.detail.unassigned", name=details.get("previous") or "—")
    elif action in ("escalated", "deescalated"):
        before, after = details.get("from"), details.get("to")
        part = f"{t(f'severity.{before}')} → {t(f'severity.{after}')}"
    elif action == "silenced" and pd.isna(row["alert_id"]):
        start, end = (pd.to_datetime(details.get(k), utc=True, errors="coerce") for k in ("starts_at", "ends_at"))
        part = t("events.detail.window", id=details.get("silence_id"), start=stamp(start), end=stamp(end))
    elif action == "unsilenced" and pd.isna(row["alert_id"]):
        part = t("events.detail.lifted", id=details.get("silence_id"))
    comment = row["comment"] if isinstance(row["comment"], str) else ""
    return " — ".join(p for p in (part, comment) if p)


def events_table(events: pd.DataFrame, *, with_sensor: bool) -> pd.DataFrame:
    table = {
        t("events.col.time"): [stamp(v) for v in events["at"]],
        t("events.col.alert"): ["—" if pd.isna(a) else f"#{int(a)}" for a in events["alert_id"]],
    }
    if with_sensor:
        table[t("col.sensor")] = [
            (n if isinstance(n, str) else s).split(" – ", 1)[-1]
            for n, s in zip(events["sensor_name"], events["sensor_id"], strict=True)
        ]
    table |= {
        t("events.col.subject"): [_subject(r) for _, r in events.iterrows()],
        t("events.col.action"): [
            t(f"events.action.{a}") + (f" · {t('alerts.state.silenced')}" if s and a not in SILENCE_ACTIONS else "")
            for a, s in zip(events["action"], events["silenced"], strict=True)
        ],
        t("events.col.actor"): [t("events.system") if a == "system" else a for a in events["actor"]],
        t("events.col.detail"): [_detail(r) for _, r in events.iterrows()],
    }
    return pd.DataFrame(table)


def silences_table(silences: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "#": silences["silence_id"].astype("int64"),
            t("col.sensor"): [
                n if isinstance(n, str) else s
                for n, s in zip(silences["sensor_name"], silences["sensor_id"], strict=True)
            ],
            t("silence.col.scope"): [
                metric_label(r) if isinstance(r["metric"], str) else t("silence.whole_sensor")
                for _, r in silences.iterrows()
            ],
            t("silence.col.state"): [t("silence.active") if a else t("silence.planned") for a in silences["active"]],
            t("silence.col.from"): [stamp(v) for v in silences["starts_at"]],
            t("silence.col.to"): [stamp(v) for v in silences["ends_at"]],
            t("silence.col.by"): silences["created_by"],
            t("silence.col.reason"): silences["reason"],
        }
    )


def _silences(sensor_ids: tuple[str, ...]) -> None:
    current = load(alerts.silences, sensor_ids=sensor_ids)
    if current.empty:
        return
    st.markdown(f"**{t('silence.title')}**")
    st.dataframe(silences_table(current), hide_index=True, width="stretch")


def live_activity(sensor_ids: tuple[str, ...]) -> None:
    """Under the live feed: silences in force or planned, and the last 24 h of the history (folded)."""
    _silences(sensor_ids)
    since = clock.query_now(60) - timedelta(hours=LIVE_HOURS)
    events = load(alerts.events, sensor_ids=sensor_ids, since=since, limit=LIVE_LIMIT)
    with st.expander(t("events.title_live", n=len(events), h=LIVE_HOURS), icon=":material/history:"):
        if events.empty:
            st.caption(t("events.none"))
        else:
            st.dataframe(events_table(events, with_sensor=True), hide_index=True, width="stretch")


def sensor_section(sensor_id: str, history: pd.DataFrame) -> None:
    """The Sensor page's alerts: every alert of the sensor, its silences, and the history of actions on them."""
    st.markdown(f"#### {t('sensor.alerts')}")
    if history.empty:
        st.caption(t("sensor.alerts.none"))
    else:
        st.caption(t("sensor.alerts.caption", n=len(history), open=int(history["is_open"].sum())))
        st.dataframe(alert_table(history), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(history)))
    _silences((sensor_id,))
    events = load(alerts.events, sensor_ids=(sensor_id,), limit=SENSOR_LIMIT)
    if not events.empty:
        with st.expander(t("events.title_sensor", n=len(events)), icon=":material/history:"):
            st.dataframe(events_table(events, with_sensor=False), hide_index=True, width="stretch")
