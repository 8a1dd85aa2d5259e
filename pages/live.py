"""Temps réel / Live — what is happening now for the sensors chosen in the sidebar: freshness, open alerts,
throughput and latency, latest values with their delta, a fine-grained series, a status grid, the alert feed with
its history and silences, and the alert actions. Live parts are fragments refreshed at the sidebar's interval: a
refresh never resets the selections or the scroll position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components import charts, clock, inputs
from components.alert_actions import alert_actions
from components.alert_history import live_activity
from components.alerts_feed import feed_table
from components.data import load
from components.errors import guard
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, metric_label, t
from components.sidebar import current_filters, ensure_entrypoint, refresh_interval
from data_access import alerts, live, queries

MAIN_METRICS = ("temperature", "humidity", "pm10", "noise", "traffic_flow", "co2", "h2s", "parking_occupancy")
SERIES_WINDOWS = {"5 min": 5, "15 min": 15, "60 min": 60}
MAX_SERIES_SENSORS = 8
MAX_CARDS = 8
CARDS_PER_ROW = 4

ensure_entrypoint()
st.title(t("live.title"))

filters = current_filters()
catalogue = load(live.sensor_catalogue)
metrics = load(queries.metrics)
if catalogue.empty or metrics.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
sensor_ids = filters.matching_sensors(catalogue)
if not sensor_ids:
    st.warning(t("live.no_sensor"), icon=":material/filter_alt_off:")
    st.stop()
if not any(len(m) for m in catalogue.loc[catalogue["sensor_id"].isin(sensor_ids), "metrics"]):
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
names = dict(zip(catalogue["sensor_id"], catalogue["name"], strict=True))
metric_rows = metrics.set_index("metric")
labels = {m: f"{metric_label(r)} ({r['unit']})" for m, r in metric_rows.iterrows()}
short_labels = {m: metric_label(r) for m, r in metric_rows.iterrows()}


def fmt_delta(delta: float) -> str:
    """Signed, one decimal, never "-0,0"."""
    rounded = round(delta, 1)
    text = fmt_number(abs(rounded), lang(), 1)
    return ("+" if rounded > 0 else "−" if rounded < 0 else "±") + text


# The only page-local choice: how many minutes the fine series shows. Kept in the URL like the sidebar's filters.
if "live_window" not in st.session_state:
    st.session_state["live_window"] = inputs.param_choice("lw", SERIES_WINDOWS, "15 min")
inputs.flush_notices()
head_left, head_right = st.columns([4, 2], vertical_alignment="bottom")
head_left.caption(t("live.scope", n=len(sensor_ids)))
window = head_right.segmented_control(
    t("live.window_label"), list(SERIES_WINDOWS), key="live_window", label_visibility="collapsed", required=True
)
window = window or "15 min"
if st.query_params.get("lw") != window:
    st.query_params["lw"] = window


def kpi_cards() -> None:
    status = load(live.sensor_status, sensor_ids=sensor_ids)
    counts = live.status_counts(status)
    latency = load(live.end_to_end_latency, minutes=5)
    rate = load(queries.throughput, seconds=60)
    cols = st.columns(5)
    cols[0].metric(t("live.online"), f"{counts['online']} / {counts['total']}", border=True)
    cols[1].metric(t("live.stale"), counts["stale"], border=True)
    cols[2].metric(t("live.offline"), counts["offline"], border=True)
    cols[3].metric(t("live.msg_rate"), fmt_number(rate, lang(), 1), help=t("live.msg_rate_help"), border=True)
    p95 = latency["p95_ms"]
    cols[4].metric(
        t("live.latency"),
        "—" if p95 is None else f"{fmt_number(p95 / 1000, lang(), 2)} s",
        help=t("live.latency_help", n=latency["samples"]),
        border=True,
    )

    open_alerts = load(alerts.open_counts, sensor_ids=sensor_ids).set_index("severity")
    cols = st.columns(4)
    cols[0].metric(t("live.alerts_open"), int(open_alerts["open_alerts"].sum()), border=True)
    for col, severity in zip(cols[1:], ("critical", "warning", "info"), strict=True):
        row = open_alerts.loc[severity]
        col.metric(
            f"{charts.SEVERITY_ICONS[severity]} {t(f'live.alerts.{severity}')}",
            int(row["open_alerts"]),
            delta=t("live.alerts_unack", n=int(row["unacknowledged"])) if row["unacknowledged"] else None,
            delta_color="off",
            delta_arrow="off",
            border=True,
        )


def latest_values() -> None:
    st.subheader(t("live.latest_values"))
    overview = load(live.metric_overview, sensor_ids=sensor_ids).set_index("metric")
    overview = overview[overview["current"].notna()]
    if overview.empty:
        st.info(t("live.no_latest"))
        return
    order = [filters.metric] if filters.metric in overview.index else []
    order += [m for m in MAIN_METRICS if m in overview.index and m not in order]
    order += [m for m in overview.index if m not in order]
    shown = order[:MAX_CARDS]
    columns = [c for _ in range(0, len(shown), CARDS_PER_ROW) for c in st.columns(CARDS_PER_ROW)]
    for col, metric in zip(columns, shown, strict=False):
        row = overview.loc[metric]
        current, previous = float(row["current"]), row["previous"]
        delta = None if pd.isna(previous) else current - float(previous)
        unit = metric_rows.loc[metric, "unit"] if metric in metric_rows.index else ""
        col.metric(
            short_labels.get(metric, metric),
            f"{fmt_number(current, lang(), 1)} {unit}",
            delta=None if delta is None else fmt_delta(delta),
            delta_arrow="off" if delta is None or round(delta, 1) == 0 else "up" if delta > 0 else "down",
            delta_color="off",
            help=t("live.delta_help"),
            border=True,
        )


def live_series() -> None:
    metric = filters.metric
    if not metric:
        st.info(t("live.no_metric"))
        return
    st.subheader(t("live.series_for", metric=labels.get(metric, metric)))
    with_metric = [s for s in sensor_ids if metric in catalogue.loc[catalogue["sensor_id"] == s, "metrics"].iloc[0]]
    if not with_metric:
        st.info(t("live.no_series"))
        return
    drawn = tuple(with_metric[:MAX_SERIES_SENSORS])
    end = datetime.fromtimestamp(int(clock.now().timestamp()), UTC)
    start = end - timedelta(minutes=SERIES_WINDOWS[window])
    frame, resolution = load(queries.timeseries, sensor_ids=drawn, metric=metric, start=start, end=end)
    if frame.empty:
        st.info(t("live.no_series"))
        return
    st.plotly_chart(
        charts.lines(frame, group="sensor_id", y_label=labels.get(metric, metric), names=names, height=320),
        width="stretch",
        key="live_series_chart",
    )
    caption = t("live.source", source=t(f"source.{resolution.source}"), step=f"{resolution.step_s} s")
    if len(with_metric) > len(drawn):
        caption += " · " + t("live.series_truncated", shown=len(drawn), total=len(with_metric))
    st.caption(caption)


def status_grid() -> None:
    st.subheader(t("live.grid"))
    status = load(live.sensor_status, sensor_ids=sensor_ids)
    short = {s: n.split(" – ", 1)[-1] if " – " in n else n for s, n in names.items()}
    st.html(charts.status_tiles(status, names=short))


@st.fragment(run_every=refresh_interval())
@guard
def live_panel() -> None:
    st.caption(t("live.updated", time=fmt_time(clock.now(), lang())))
    kpi_cards()
    latest_values()
    live_series()
    status_grid()


@st.fragment(run_every=refresh_interval())
@guard
def alerts_panel() -> None:
    feed_table(sensor_ids)
    live_activity(sensor_ids)


live_panel()
alerts_panel()
alert_actions(sensor_ids)
