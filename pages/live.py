"""Temps réel / Live — what is happening now for the sensors chosen in the sidebar: freshness, open alerts,
throughput and latency, latest values with their delta, a fine-grained series, a status grid, the alert feed with
its history and silences, and the alert actions. Live parts are fragments refreshed at the sidebar's interval: a
refresh never resets the selections or the scroll position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components import charts, clock, inputs, plot
from components.alert_actions import alert_actions
from components.alert_history import live_activity
from components.alerts_feed import feed_table
from components.csv_export import export_controls, iso_local, signature, table_csv
from components.data import load
from components.errors import guard
from components.formatting import auto_decimals, fmt_compact, fmt_duration, fmt_int, fmt_number, fmt_signed, fmt_time
from components.i18n import lang, metric_label, metric_short, t
from components.names import place_names
from components.sidebar import catalogue as sidebar_catalogue
from components.sidebar import current_filters, ensure_entrypoint, refresh_interval
from data_access import live, queries

MAIN_METRICS = ("temperature", "humidity", "pm10", "noise", "traffic_flow", "co2", "h2s", "parking_occupancy")
SERIES_WINDOWS = {"5 min": 5, "15 min": 15, "60 min": 60}
MAX_SERIES_SENSORS = 8
MAX_CARDS = 8
CARDS_PER_ROW = 4

ensure_entrypoint()
st.title(t("live.title"))

filters = current_filters()
catalogue, metrics = sidebar_catalogue()  # the sidebar's own read, not two more statements
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
metric_rows = metrics.set_index("metric")
labels = {m: f"{metric_label(r)} ({r['unit']})" for m, r in metric_rows.iterrows()}
short_labels = {m: metric_short(m, r) for m, r in metric_rows.iterrows()}

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
    counts = live.status_counts(load(live.sensor_status, sensor_ids=sensor_ids))
    figures = load(live.kpis, sensor_ids=sensor_ids)  # one statement: overview, alerts, messages/s, latency
    overview, latency, messages = live.overview_of(figures), live.latency_of(figures), live.message_rate_of(figures)
    cols = st.columns(5)
    cols[0].metric(
        t("live.online"), f"{fmt_int(counts['online'], lang())} / {fmt_int(counts['total'], lang())}", border=True
    )
    cols[1].metric(t("live.stale"), fmt_int(counts["stale"], lang()), border=True)
    cols[2].metric(t("live.offline"), fmt_int(counts["offline"], lang()), border=True)
    # Who each rate counts is said under it: the readings follow the filters, the messages are the whole network's.
    cols[3].metric(
        t("live.reading_rate"),
        fmt_compact(live.readings_per_s(overview), lang(), 1),
        delta=t("live.reading_rate_scope", n=fmt_int(len(sensor_ids), lang())),
        delta_color="off",
        delta_arrow="off",
        help=t("live.reading_rate_help"),
        border=True,
    )
    cols[4].metric(
        t("live.msg_rate"),
        fmt_compact(messages, lang(), 1),
        delta=t("live.msg_rate_scope"),
        delta_color="off",
        delta_arrow="off",
        help=t("live.msg_rate_help"),
        border=True,
    )

    open_alerts = live.open_alerts_of(figures).set_index("severity")
    cols = st.columns(5)
    p95 = latency["p95_ms"]
    cols[0].metric(
        t("live.latency"),
        "—" if p95 is None else f"{fmt_number(p95 / 1000, lang(), 2)} s",
        help=t("live.latency_help", n=fmt_int(latency["samples"], lang())),
        border=True,
    )
    cols[1].metric(t("live.alerts_open"), fmt_int(open_alerts["open_alerts"].sum(), lang()), border=True)
    for col, severity in zip(cols[2:], ("critical", "warning", "info"), strict=True):
        row = open_alerts.loc[severity]
        col.metric(
            f"{charts.SEVERITY_ICONS[severity]} {t(f'live.alerts.{severity}')}",
            fmt_int(row["open_alerts"], lang()),
            delta=t("live.alerts_unack", n=int(row["unacknowledged"])) if row["unacknowledged"] else None,
            delta_color="off",
            delta_arrow="off",
            border=True,
        )


def latest_values() -> None:
    st.subheader(t("live.latest_values"))
    overview = live.overview_of(load(live.kpis, sensor_ids=sensor_ids)).set_index("metric")
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
        decimals = auto_decimals(current)
        col.metric(
            f"{short_labels.get(metric, metric)} ({unit})" if unit else short_labels.get(metric, metric),
            fmt_compact(current, lang(), decimals),
            delta=None if delta is None else fmt_signed(delta, lang(), decimals),
            delta_arrow="off" if delta is None or round(delta, decimals) == 0 else "up" if delta > 0 else "down",
            delta_color="off",
            help=t("live.delta_help_full", metric=labels.get(metric, metric)),
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
    unit = metric_rows.loc[metric, "unit"] if metric in metric_rows.index else ""
    fig = charts.lines(
        frame,
        group="sensor_id",
        y_label=labels.get(metric, metric),
        names=place_names(catalogue),
        height=340,
        unit=unit,
    )
    plot.show(fig, key="live_series_chart")  # the last minutes, not the page range: no box-zoom here
    caption = t("live.source", source=t(f"source.{resolution.source}"), step=fmt_duration(resolution.step_s, lang()))
    if len(with_metric) > len(drawn):
        caption += " · " + t("live.series_truncated", shown=len(drawn), total=len(with_metric))
    st.caption(caption)


def status_grid() -> None:
    st.subheader(t("live.grid"))
    status = load(live.sensor_status, sensor_ids=sensor_ids)
    st.html(charts.status_tiles(status))


def export_table() -> None:
    """The sensors shown with their status and the latest reading of each metric, as a CSV (Trends rules). The
    latest readings are read when the file is prepared, not at every run of the page: its size is said from the
    catalogue (one line per metric each sensor has reported, or one for a sensor without any)."""
    now = clock.now()
    status = load(live.sensor_status, sensor_ids=sensor_ids)[["sensor_id", "name", "commune", "kind", "status"]]
    reported = dict(zip(catalogue["sensor_id"], catalogue["metrics"], strict=True))

    def table() -> pd.DataFrame:
        latest = load(queries.latest_readings, sensor_ids=sensor_ids).rename(columns={"status": "reading_status"})
        merged = status.merge(latest.drop(columns=["name", "commune", "kind"]), on="sensor_id", how="left")
        columns = ["sensor_id", "name", "commune", "kind", "status", "metric", "unit", "value", "time"]
        return merged[[*columns, "reading_status"]].rename(columns={"name": "sensor_name", "time": "reading_time"})

    header = {
        "Madinina Monitor": "Live export (sensor status and latest reading of each metric)",
        "at": f"{iso_local(now)} America/Martinique",
        "communes": "|".join(filters.communes) or "all",
        "kinds": "|".join(filters.kinds) or "all",
        "sensors": "|".join(filters.sensor_ids) or f"all matching ({len(sensor_ids)})",
        "columns": "status: the sensor's freshness from its expected interval; reading_status: as the device sent it",
    }
    rows = sum(max(1, len(reported.get(s, ()))) for s in status["sensor_id"])
    st.caption(t("live.export_caption", rows=fmt_int(rows, lang())))
    export_controls(
        lambda: table_csv(table(), header=header),
        view_signature=signature(sensor_ids, int(now.timestamp()) // 60),
        file_name=f"madinina-live-{now.strftime('%Y%m%dT%H%M%S')}Z.csv",
        key="live_csv",
    )


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
with st.expander(t("live.export")):
    export_table()
