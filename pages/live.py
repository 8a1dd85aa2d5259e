"""Temps réel / Live — what is happening now: sensor freshness, throughput, latest values, a live series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from components.data import load
from components.formatting import fmt_number, fmt_time, plotly_separators, to_local
from components.i18n import lang, metric_label, t
from components.sidebar import refresh_interval

MAIN_METRICS = ("temperature", "humidity", "pm10", "noise", "traffic_flow", "co2")
SERIES_WINDOWS = {"5 min": 5, "15 min": 15, "60 min": 60}

st.title(t("live.title"))

metrics = load("metrics")
if metrics.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
labels = {row["metric"]: f"{metric_label(row)} ({row['unit']})" for _, row in metrics.iterrows()}


def kpi_cards() -> None:
    status = load("sensor_status")
    counts = status["status"].value_counts()
    cols = st.columns(4)
    cols[0].metric(t("live.online"), f"{counts.get('online', 0)} / {len(status)}")
    cols[1].metric(t("live.stale"), int(counts.get("stale", 0)))
    cols[2].metric(t("live.offline"), int(counts.get("offline", 0)))
    cols[3].metric(
        t("live.msg_rate"), fmt_number(load("throughput", seconds=60), lang(), 1), help=t("live.msg_rate_help")
    )

    overview = load("metric_overview").set_index("metric")
    shown = [m for m in MAIN_METRICS if m in overview.index]
    if shown:
        st.subheader(t("live.latest_values"))
        cols = st.columns(len(shown))
        for col, metric in zip(cols, shown, strict=True):
            row = overview.loc[metric]
            current, previous = row["current"], row["previous"]
            delta = None if pd.isna(current) or pd.isna(previous) else current - previous
            col.metric(
                f"{metric_label(row)} ({row['unit']})",
                fmt_number(None if pd.isna(current) else float(current), lang(), 1),
                delta=None if delta is None else fmt_number(delta, lang(), 1),
                help=t("live.delta_help"),
            )


def live_series(metric: str, sensor_ids: list[str], minutes: int) -> None:
    end = datetime.now(UTC)
    frame, resolution = load(
        "timeseries", sensor_ids=tuple(sensor_ids), metric=metric, start=end - timedelta(minutes=minutes), end=end
    )
    if frame.empty:
        st.info(t("live.no_series"))
        return
    frame = frame.assign(time=to_local(frame["time"]).dt.tz_localize(None))
    fig = px.line(
        frame,
        x="time",
        y="value",
        color="sensor_id",
        labels={"time": t("col.time"), "value": labels.get(metric, metric), "sensor_id": t("col.sensor")},
    )
    fig.update_layout(
        separators=plotly_separators(lang()),
        height=340,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    st.plotly_chart(fig, width="stretch")
    step = f"{resolution.step_s} s"
    st.caption(t("live.source", source=t(f"source.{resolution.source}"), step=step))


def latest_table() -> None:
    status = load("sensor_status")
    latest = load("latest_readings")
    if latest.empty:
        st.info(t("db.empty"))
        return
    wide = latest.pivot_table(index="sensor_id", columns="metric", values="value", aggfunc="last")
    wide.columns = [labels.get(c, c) for c in wide.columns]
    table = status.set_index("sensor_id")[["name", "commune", "kind", "status", "last_time"]].join(wide)
    table["kind"] = table["kind"].map(lambda k: t(f"kind.{k}"))
    table["status"] = table["status"].map(
        lambda s: {"online": "🟢 ", "stale": "🟠 ", "offline": "🔴 "}[s] + t(f"status.{s}")
    )
    table["last_time"] = table["last_time"].map(lambda v: fmt_time(v, lang(), with_date=True))
    table = table.rename(
        columns={
            "name": t("col.sensor"),
            "commune": t("col.commune"),
            "kind": t("col.kind"),
            "status": t("col.status"),
            "last_time": t("col.last_seen"),
        }
    )
    number_format = "%.1f"
    st.dataframe(
        table.reset_index(drop=True),
        hide_index=True,
        width="stretch",
        height=420,
        column_config={c: st.column_config.NumberColumn(c, format=number_format) for c in wide.columns},
    )


# Selections live outside the fragments: a refresh re-runs only the fragments and never resets them.
options = [m for m in MAIN_METRICS if m in labels] + sorted(m for m in labels if m not in MAIN_METRICS)
left, middle, right = st.columns([2, 5, 1])
metric = left.selectbox(t("live.metric"), options, format_func=lambda m: labels.get(m, m), key="live_metric")
status_now = load("sensor_status")
latest_now = load("latest_readings")
with_metric = sorted(latest_now.loc[latest_now["metric"] == metric, "sensor_id"].unique())
names = dict(zip(status_now["sensor_id"], status_now["name"], strict=False))
if "live_sensors" in st.session_state:
    st.session_state["live_sensors"] = [s for s in st.session_state["live_sensors"] if s in with_metric]
sensor_ids = middle.multiselect(
    t("live.sensors"), with_metric, default=with_metric[:4], format_func=lambda s: names.get(s, s), key="live_sensors"
)
window = right.selectbox(t("live.window"), list(SERIES_WINDOWS), index=1, key="live_window")


@st.fragment(run_every=refresh_interval())
def live_panel() -> None:
    st.caption(t("live.updated", time=fmt_time(datetime.now(UTC), lang())))
    kpi_cards()
    st.subheader(t("live.series"))
    if sensor_ids:
        live_series(metric, sensor_ids, SERIES_WINDOWS[window])
    st.subheader(t("live.table"))
    latest_table()


live_panel()
