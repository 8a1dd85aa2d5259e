"""Sections of the Sensor page: identity and freshness, all its metrics over the range (with their CSV export),
battery trend, data quality. Plain functions the page script calls in order; tables and figures come from
components.sensor_panels."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import charts, clock, plot
from components import sensor_panels as sp
from components.csv_export import build_csv, export_controls, iso_local, signature
from components.data import load
from components.formatting import fmt_compact, fmt_duration, fmt_int, fmt_number, fmt_skeleton, fmt_time
from components.i18n import lang, t
from components.names import display_name
from components.sidebar import lang_key
from components.text import md_code, md_escape
from data_access import queries
from data_access import sensor as sensor_data

STATUS_ICONS = {
    "online": ":green[:material/check_circle:]",
    "stale": ":orange[:material/schedule:]",
    "offline": ":red[:material/cloud_off:]",
}


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]


def short_stamp(moment, *, time_within_days: float = 1.0) -> str:
    """A KPI-sized moment: the date alone ("23/12/2026"), or day, month and time when it is within time_within_days
    of now ("22/11 18:27"); the full moment goes in the card's help."""
    if abs((pd.Timestamp(moment) - pd.Timestamp(clock.now())).total_seconds()) > time_within_days * 86400:
        return fmt_skeleton(moment, lang(), "yMd")
    return fmt_skeleton(moment, lang(), "Md", "Hm")


def identity(info, sid: str) -> None:
    st.subheader(md_escape(display_name(info["name"], info["kind"], sid)))
    st.markdown(
        t(
            "sensor.identity",
            id=md_code(sid),
            kind=t(f"kind.{info['kind']}"),
            commune=md_escape(info["commune"]),
            insee=md_escape(info["insee"]),
            lat=fmt_number(info["latitude"], lang(), 4),
            lon=fmt_number(info["longitude"], lang(), 4),
            installed=fmt_skeleton(info["installed_at"], lang(), "yMd"),
        )
    )
    if not info["active"]:
        st.warning(t("sensor.inactive"))


def freshness(info, history: pd.DataFrame) -> None:
    st.markdown(f"#### {t('sensor.freshness')}")
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
        delta=t("sensor.ago", d=fmt_duration(info["age_s"], lang())) if pd.notna(last) else None,
        help=stamp(last) if pd.notna(last) else None,
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    k[2].metric(t("sensor.interval"), fmt_duration(info["expected_interval_s"], lang()), border=True)
    k[3].metric(t("sensor.open_alerts"), int(history["is_open"].sum()) if len(history) else 0, border=True)


def series(sid: str, info, sensor_metrics: list[str], filters, labels: dict, units: dict) -> None:
    """Every metric of the sensor over the range (small multiples, box-zoom sets the range) and its CSV export."""
    st.markdown(f"#### {t('sensor.series')}")
    st.caption(t("sensor.range", start=stamp(filters.start), end=stamp(filters.end)) + " " + t("chart.zoom_hint"))
    resolution = queries.choose_resolution(filters.start, filters.end)
    parts = []
    for metric in sensor_metrics:
        frame, _ = load(
            queries.timeseries,
            sensor_ids=(sid,),
            metric=metric,
            start=filters.start,
            end=filters.end,
            resolution=resolution,
        )
        if len(frame):
            parts.append(frame.assign(metric=metric))
    points = fmt_int(queries.MAX_POINTS, lang())
    if resolution.source == "raw":
        st.markdown(t("sensor.source.raw", step=fmt_duration(resolution.step_s, lang()), points=points))
    else:
        window, step = fmt_duration(resolution.window_s, lang()), fmt_duration(resolution.step_s, lang())
        st.markdown(t("sensor.source.agg", window=window, step=step, points=points))
    if not parts:
        st.info(t("sensor.no_data"), icon=":material/search_off:")
        return
    frame = pd.concat(parts, ignore_index=True)
    order = [m for m in sensor_metrics if m in set(frame["metric"])]
    fig = charts.small_multiples(
        frame, facet="metric", titles=labels, columns=2 if len(order) > 1 else 1, band=True, order=order, units=units
    )
    plot.show(fig, key="sensor_series", zoom=True)
    st.caption(t("sensor.band"))
    header = {
        "Madinina Monitor": "Sensor export (the series shown)",
        "source": "sensor_data (raw readings)"
        if resolution.source == "raw"
        else f"sensor_data_agg ({resolution.window_s} s windows)",
        "window": f"{resolution.step_s} s ({fmt_duration(resolution.step_s, 'en')})",
        "range": f"{iso_local(filters.start)} / {iso_local(filters.end)} [start, end) America/Martinique",
        "range_key": filters.range_key,
        "sensors": sid,
        "metrics": "|".join(order),
        "columns": "mean/min/max/count of the readings whose time falls in [window_start, window_end); "
        "partial = true for a window cut by the end of the range",
    }
    catalogue = pd.DataFrame(
        [{"sensor_id": sid, "name": info["name"], "commune": info["commune"], "kind": info["kind"]}]
    )
    export_controls(
        lambda: build_csv(
            frame.assign(sensor_id=sid),
            window_s=resolution.step_s,
            header=header,
            end=filters.end,
            catalogue=catalogue,
            units=units,
        ),
        view_signature=signature(sid, filters.start, filters.end, resolution, tuple(order)),
        file_name=f"madinina-sensor-{sid}-{filters.start.strftime('%Y%m%dT%H%M')}Z-{resolution.step_s}s.csv",
        key="sensor_csv",
    )


def battery(sid: str, sensor_metrics: list[str], metric_rows: pd.DataFrame) -> None:
    st.markdown(f"#### {t('sensor.battery')}")
    crit_low = metric_rows.loc["battery", "crit_low"] if "battery" in metric_rows.index else None
    crit_low = None if crit_low is None or pd.isna(crit_low) else float(crit_low)
    if "battery" not in sensor_metrics:
        st.caption(t("sensor.battery.none"))
        return
    trend = load(sensor_data.battery_trend, sensor_id=sid, crit_low=crit_low)
    state = trend["state"]
    if state == "no_data":
        st.info(t("sensor.battery.no_data", days=sensor_data.BATTERY_DAYS))
        return
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
        b[0].metric(t("sensor.battery.level"), f"{fmt_compact(trend['fitted_now'], lang(), 1)} %", border=True)
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
            t("sensor.battery.caption", n=trend["points"], since=stamp(trend["since"]), days=sensor_data.BATTERY_DAYS)
        )
    plot.show(
        sp.battery_figure(trend["hourly"], trend, crit_low=crit_low, now=pd.Timestamp(clock.now())),
        key="sensor_battery",
    )


def quality(sid: str, info, sensor_metrics: list[str], filters, labels: dict, units: dict) -> None:
    """Gaps (threshold a multiple of the step the readings are stored at in the range), stuck values, shares of
    warning / critical / fault readings."""
    ss = st.session_state
    st.markdown(f"#### {t('sensor.quality')}")
    steps = load(sensor_data.stored_steps, sensor_id=sid, start=filters.start, end=filters.end)
    interval = int(info["expected_interval_s"])
    step = sensor_data.typical_step(steps, interval)
    q1, _ = st.columns([2, 3])
    ss["sensor_gap_factor"] = q1.selectbox(
        t("sensor.gap_factor"),
        sensor_data.GAP_FACTORS,
        index=sensor_data.GAP_FACTORS.index(ss["sensor_gap_factor"]),
        format_func=lambda n: t("sensor.gap_factor.option", n=n, d=fmt_duration(n * step, lang())),
        key=lang_key(f"sensor_gap_w_{step}"),
    )
    factor = ss["sensor_gap_factor"]
    if factor == sensor_data.DEFAULT_GAP_FACTOR:
        if "gap" in st.query_params:
            del st.query_params["gap"]
    elif st.query_params.get("gap") != str(factor):
        st.query_params["gap"] = str(factor)
    if not sensor_metrics:
        st.caption(t("sensor.no_reading"))
        return
    gap_rows = load(
        sensor_data.gaps,
        sensor_id=sid,
        start=filters.start,
        end=filters.end,
        factor=factor,
        steps=tuple(sorted((m, max(v, interval)) for m, v in steps.items())),
        default_s=step,
    )
    summary = sensor_data.gap_summary(gap_rows, sensor_metrics, (filters.end - filters.start).total_seconds())
    shares = load(sensor_data.status_shares, sensor_id=sid, start=filters.start, end=filters.end)
    stuck = load(sensor_data.stuck_runs, sensor_id=sid, start=filters.start, end=filters.end)
    st.dataframe(sp.quality_table(sensor_metrics, labels, summary, shares, stuck), hide_index=True, width="stretch")
    source = sensor_data.gap_source(filters.start, filters.end)
    threshold = fmt_duration(max(factor * step, 1 if source == "raw" else 60), lang())
    notes = [
        t("sensor.quality.step", step=fmt_duration(step, lang()), expected=fmt_duration(interval, lang())),
        t(f"sensor.quality.gaps_{source}", threshold=threshold),
        t("sensor.quality.stuck", n=sensor_data.STUCK_MIN_RUN),
    ]
    share_source, window = sensor_data.shares_source(filters.start, filters.end)
    notes.append(
        t(
            "sensor.quality.shares",
            source=t("sensor.quality.shares.raw")
            if share_source == "raw"
            else t("sensor.quality.shares.agg", w=fmt_duration(window, lang())),
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
