"""Capteur / Sensor — one sensor in detail: identity and freshness, latest value of each metric, all its metrics
over the sidebar's range (raw readings or windowed aggregates, chosen automatically and named), battery trend with
an estimated depletion date, alert history, data quality (gaps, stuck values, share of warning / critical / fault
readings). The sensor comes from the URL (?sensor_id=…, set by the Map page) or is picked here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import alert_history, charts, clock, inputs
from components import sensor_panels as sp
from components.alert_actions import alert_actions
from components.data import load
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, metric_label, t
from components.sidebar import current_filters, ensure_entrypoint, lang_key
from components.text import md_code, md_escape
from data_access import live, queries
from data_access import sensor as sensor_data

ss = st.session_state
STATUS_ICONS = {
    "online": ":green[:material/check_circle:]",
    "stale": ":orange[:material/schedule:]",
    "offline": ":red[:material/cloud_off:]",
}


def step_label(seconds: int) -> str:
    return sp.fmt_duration(seconds)


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]


def short_stamp(moment, *, time_within_days: float = 1.0) -> str:
    """A KPI-sized moment (the cards cut long values): the date alone, with the time of day only when it is within
    time_within_days of now, e.g. "23/12/2026", "22/11 18:27" ("2026-12-23", "11-22 18:27" in English)."""
    full = stamp(moment)  # 22/11/2026 18:27 or 2026-11-22 18:27
    date, hhmm = full.split(" ")
    if abs((pd.Timestamp(moment) - pd.Timestamp(clock.now())).total_seconds()) > time_within_days * 86400:
        return date
    return f"{date[:5]} {hhmm}" if lang() == "fr" else f"{date[5:]} {hhmm}"


ensure_entrypoint()
st.title(t("sensor.title"))

filters = current_filters()
catalogue = load(live.sensor_catalogue)
metrics = load(queries.metrics)
if catalogue.empty or metrics.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()

if not any(len(m) for m in catalogue["metrics"]):  # sensors are known, none has reported yet
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
# -- which sensor: ?sensor_id=… (Map page, shared link) or session_state["sensor_id"], else the first of the filters --
ids = list(catalogue["sensor_id"])
names = dict(zip(catalogue["sensor_id"], catalogue["name"], strict=True))
from_url = inputs.raw_param("sensor_id")
if from_url and from_url not in ids:
    st.warning(t("sensor.unknown", id=md_escape(from_url, 80)), icon=":material/help:")
if "sensor_gap_factor" not in ss:  # read here so that its notice, if any, shows at the top with the others
    ss["sensor_gap_factor"] = inputs.param_int_choice("gap", sensor_data.GAP_FACTORS, sensor_data.DEFAULT_GAP_FACTOR)
inputs.flush_notices()
if "sensor_id" not in ss or ss["sensor_id"] not in ids:
    matching = filters.matching_sensors(catalogue)
    ss["sensor_id"] = from_url if from_url in ids else (matching[0] if matching else ids[0])
elif from_url in ids and from_url != ss["sensor_id"] and ss.get("_sensor_url_seen") != from_url:
    ss["sensor_id"] = from_url  # a new link opened in this session
ss["_sensor_url_seen"] = from_url


def _keep() -> None:
    ss["sensor_id"] = ss["sensor_select"]


if ss.get("sensor_select") != ss["sensor_id"]:
    ss.pop("sensor_select", None)  # the widget follows a sensor chosen elsewhere (Map page)
sid = st.selectbox(
    t("sensor.pick"),
    ids,
    index=ids.index(ss["sensor_id"]),
    format_func=lambda s: f"{names.get(s, s)} ({s})",
    key="sensor_select",
    on_change=_keep,
)
ss["sensor_id"] = sid
if st.query_params.get("sensor_id") != sid:
    st.query_params["sensor_id"] = sid
ss["_sensor_url_seen"] = sid

info_frame = load(sensor_data.sensor_info, sensor_id=sid)
if info_frame.empty:
    st.warning(t("sensor.unknown", id=md_escape(sid, 80)))
    st.stop()
info = info_frame.iloc[0]
metric_rows = metrics.set_index("metric")
labels = {m: f"{metric_label(r)} ({r['unit']})" for m, r in metric_rows.iterrows()}
units = dict(zip(metrics["metric"], metrics["unit"], strict=True))

st.subheader(md_escape(info["name"]))
st.markdown(
    t(
        "sensor.identity",
        id=md_code(sid),
        kind=t(f"kind.{info['kind']}"),
        commune=md_escape(info["commune"]),
        insee=md_escape(info["insee"]),
        lat=fmt_number(info["latitude"], lang(), 4),
        lon=fmt_number(info["longitude"], lang(), 4),
        installed=fmt_time(info["installed_at"], lang(), with_date=True)[:10],
    )
)
if not info["active"]:
    st.warning(t("sensor.inactive"))

# -- freshness ----------------------------------------------------------------------------------------------------------
st.markdown(f"#### {t('sensor.freshness')}")
history = load(sensor_data.alert_history, sensor_id=sid)
status = info.get("status") if pd.notna(info.get("status")) else "offline"
k = st.columns([1, 1.4, 1, 1])
k[0].metric(
    f"{STATUS_ICONS[status]} {t('sensor.status')}",
    t(f"status.{status}"),
    help=t("sensor.status_help"),
    border=True,
)
last = info.get("last_time")
k[1].metric(
    t("sensor.last"),
    short_stamp(last) if pd.notna(last) else t("sensor.never"),
    delta=t("sensor.ago", d=sp.fmt_duration(info["age_s"])) if pd.notna(last) else None,
    help=stamp(last) if pd.notna(last) else None,
    delta_color="off",
    delta_arrow="off",
    border=True,
)
k[2].metric(t("sensor.interval"), sp.fmt_duration(info["expected_interval_s"]), border=True)
k[3].metric(t("sensor.open_alerts"), int(history["is_open"].sum()) if len(history) else 0, border=True)

latest = load(sensor_data.latest_by_metric, sensor_id=sid)
st.markdown(f"#### {t('sensor.latest')}")
if latest.empty:
    st.info(t("sensor.no_reading"), icon=":material/hourglass_empty:")
else:
    st.dataframe(sp.latest_table(latest, labels), hide_index=True, width="stretch")
sensor_metrics = list(latest["metric"]) if len(latest) else []

# -- all its metrics over the range ------------------------------------------------------------------------------------
st.markdown(f"#### {t('sensor.series')}")
st.caption(t("sensor.range", start=stamp(filters.start), end=stamp(filters.end)))
resolution = queries.choose_resolution(filters.start, filters.end)
parts = []
for metric in sensor_metrics:
    series, _ = load(
        queries.timeseries,
        sensor_ids=(sid,),
        metric=metric,
        start=filters.start,
        end=filters.end,
        resolution=resolution,
    )
    if len(series):
        parts.append(series.assign(metric=metric))
if resolution.source == "raw":
    st.markdown(t("sensor.source.raw", step=step_label(resolution.step_s), points=fmt_number(5000, lang(), 0)))
else:
    st.markdown(
        t(
            "sensor.source.agg",
            window=step_label(resolution.window_s),
            step=step_label(resolution.step_s),
            points=fmt_number(5000, lang(), 0),
        )
    )
if not parts:
    st.info(t("sensor.no_data"), icon=":material/search_off:")
else:
    frame = pd.concat(parts, ignore_index=True)
    order = [m for m in sensor_metrics if m in set(frame["metric"])]
    st.plotly_chart(
        charts.small_multiples(
            frame, facet="metric", titles=labels, columns=2 if len(order) > 1 else 1, band=True, order=order
        ),
        width="stretch",
        key="sensor_series",
    )
    st.caption(t("sensor.band"))

# -- battery ------------------------------------------------------------------------------------------------------------
st.markdown(f"#### {t('sensor.battery')}")
crit_low = metric_rows.loc["battery", "crit_low"] if "battery" in metric_rows.index else None
crit_low = None if crit_low is None or pd.isna(crit_low) else float(crit_low)
if "battery" not in sensor_metrics:
    st.caption(t("sensor.battery.none"))
else:
    trend = load(sensor_data.battery_trend, sensor_id=sid, crit_low=crit_low)
    state = trend["state"]
    if state == "no_data":
        st.info(t("sensor.battery.no_data", days=sensor_data.BATTERY_DAYS))
    else:
        if state == "not_enough":
            st.info(
                t(
                    "sensor.battery.not_enough",
                    n=trend["points"],
                    min=sensor_data.BATTERY_MIN_POINTS,
                    hours=fmt_number(sensor_data.BATTERY_MIN_SPAN_H, lang(), 0),
                ),
                icon=":material/battery_unknown:",
            )
        elif state == "not_discharging":
            st.info(
                t("sensor.battery.not_discharging", slope=fmt_number(trend["slope_per_day"], lang(), 2)),
                icon=":material/battery_full:",
            )
        else:
            b = st.columns([1, 1, 1.35, 1.35])
            b[0].metric(t("sensor.battery.level"), f"{fmt_number(trend['fitted_now'], lang(), 1)} %", border=True)
            b[1].metric(
                f"{t('sensor.battery.slope')} ({t('sensor.battery.per_day')})",
                fmt_number(trend["slope_per_day"], lang(), 2),
                border=True,
            )
            critical_at = trend["critical_at"]
            b[2].metric(
                t("sensor.battery.critical", level=fmt_number(crit_low or 0, lang(), 0)),
                short_stamp(critical_at, time_within_days=2)
                if critical_at is not None
                else t("sensor.battery.already_low"),
                help=stamp(critical_at) if critical_at is not None else None,
                border=True,
            )
            b[3].metric(
                t("sensor.battery.empty"),
                short_stamp(trend["depletion_at"], time_within_days=2),
                help=stamp(trend["depletion_at"]),
                border=True,
            )
            st.caption(
                t(
                    "sensor.battery.caption",
                    n=trend["points"],
                    since=stamp(trend["since"]),
                    days=sensor_data.BATTERY_DAYS,
                )
            )
        st.plotly_chart(
            sp.battery_figure(trend["hourly"], trend, crit_low=crit_low, now=pd.Timestamp(clock.now())),
            width="stretch",
            key="sensor_battery",
        )

# -- alerts: history, silences, actions ---------------------------------------------------------------------------------
alert_history.sensor_section(sid, history)
alert_actions((sid,))

# -- data quality --------------------------------------------------------------------------------------------------------
st.markdown(f"#### {t('sensor.quality')}")
interval = int(info["expected_interval_s"])
q1, _ = st.columns([2, 3])
ss["sensor_gap_factor"] = q1.selectbox(
    t("sensor.gap_factor"),
    sensor_data.GAP_FACTORS,
    index=sensor_data.GAP_FACTORS.index(ss["sensor_gap_factor"]),
    format_func=lambda n: t("sensor.gap_factor.option", n=n, d=sp.fmt_duration(n * interval)),
    key=lang_key(f"sensor_gap_w_{interval}"),
)
factor = ss["sensor_gap_factor"]
if factor == sensor_data.DEFAULT_GAP_FACTOR:
    if "gap" in st.query_params:
        del st.query_params["gap"]
elif st.query_params.get("gap") != str(factor):
    st.query_params["gap"] = str(factor)
if not sensor_metrics:
    st.caption(t("sensor.no_reading"))
else:
    gap_rows = load(sensor_data.gaps, sensor_id=sid, start=filters.start, end=filters.end, factor=factor)
    summary = sensor_data.gap_summary(gap_rows, sensor_metrics, (filters.end - filters.start).total_seconds())
    shares = load(sensor_data.status_shares, sensor_id=sid, start=filters.start, end=filters.end)
    stuck = load(sensor_data.stuck_runs, sensor_id=sid, start=filters.start, end=filters.end)
    st.dataframe(sp.quality_table(sensor_metrics, labels, summary, shares, stuck), hide_index=True, width="stretch")
    source = sensor_data.gap_source(filters.start, filters.end)
    threshold = sp.fmt_duration(max(factor * interval, 1 if source == "raw" else 60))
    notes = [t(f"sensor.quality.gaps_{source}", threshold=threshold)]
    notes.append(t("sensor.quality.stuck", n=sensor_data.STUCK_MIN_RUN))
    share_source, window = sensor_data.shares_source(filters.start, filters.end)
    notes.append(
        t(
            "sensor.quality.shares",
            source=t("sensor.quality.shares.raw")
            if share_source == "raw"
            else t("sensor.quality.shares.agg", w=step_label(window)),
        )
    )
    st.caption(" ".join(notes))
    g1, g2 = st.columns(2)
    with g1.expander(t("sensor.quality.gap_list"), expanded=False):
        if gap_rows.empty:
            st.caption(t("sensor.quality.none_gaps"))
        else:
            st.dataframe(sp.gaps_table(gap_rows, labels), hide_index=True, width="stretch")
    with g2.expander(t("sensor.quality.stuck_list"), expanded=False):
        if stuck.empty:
            st.caption(t("sensor.quality.none_stuck"))
        else:
            st.dataframe(sp.stuck_table(stuck, labels, units), hide_index=True, width="stretch")
