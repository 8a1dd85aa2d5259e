"""Sections of the Trends page below the series: this period against the previous one, the alert distribution, the
CSV export of exactly the windowed data shown. Plain functions; the page script calls them in order."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import charts, plot
from components.csv_export import build_csv, export_controls, iso_local, signature
from components.data import load
from components.formatting import fmt_compact, fmt_duration, fmt_hour, fmt_int, fmt_number, fmt_signed, fmt_time
from components.i18n import lang, t
from data_access import alerts, trends

WINDOW_NAMES = {seconds: name for name, seconds in trends.WINDOWS.items()}


def window_label(seconds: int) -> str:
    name = WINDOW_NAMES.get(seconds)
    return t(f"window.{name}") if name else fmt_duration(seconds, lang())


def local_stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]  # to the minute


def periods(
    plan, means: pd.DataFrame, totals: pd.DataFrame, *, sensor_ids, metric: str, unit: str, names: dict[str, str]
) -> None:
    """Mean of the metric this period and the previous one (same aligned buckets), overall and per sensor: `means`
    and `totals` are this period's trends.summary of the metric."""
    prev_start, prev_end = trends.previous_range(plan)
    prev_means, prev_totals = load(
        trends.summary, sensor_ids=sensor_ids, metrics=(metric,), start=prev_start, end=prev_end, window_s=plan.window_s
    )
    st.caption(
        t(
            "trends.periods_caption",
            cur=f"{local_stamp(plan.start)} → {local_stamp(plan.end)}",
            prev=f"{local_stamp(prev_start)} → {local_stamp(prev_end)}",
        )
    )
    if prev_totals.empty:
        st.info(t("trends.no_previous"))
        return
    comparison = trends.compare_periods(totals, prev_totals)
    overall = comparison.iloc[0]
    k1, k2, k3, k4 = st.columns([1.1, 1.3, 0.9, 0.9])  # the longer labels get the room they need at 1280 px
    for col, label, value in (
        (k1, "trends.mean_now", overall["current"]),
        (k2, "trends.mean_prev", overall["previous"]),
    ):
        col.metric(f"{t(label)} ({unit})", fmt_compact(value, lang(), 1), help=t("trends.means_help"), border=True)
    k3.metric(f"{t('trends.delta')} ({unit})", fmt_signed(overall["delta"], lang(), 1), border=True)
    k4.metric(
        t("trends.delta_pct"),
        "—" if pd.isna(overall["delta_pct"]) else f"{fmt_signed(overall['delta_pct'], lang(), 1)} %",
        border=True,
    )
    left, right = st.columns([1, 1])
    plot.show(
        charts.period_overlay(
            means,
            prev_means,
            shift=plan.start - prev_start,
            y_label=unit,
        ),
        key="trends_periods",
        where=left,
        zoom=True,
    )
    table = pd.DataFrame(
        {
            t("col.sensor"): [
                t("trends.all_sensors") if s == "*" else names.get(s, s) for s in comparison["sensor_id"]
            ],
            t("trends.col.now"): [fmt_number(v, lang(), 2) for v in comparison["current"]],
            t("trends.col.prev"): [fmt_number(v, lang(), 2) for v in comparison["previous"]],
            t("trends.delta"): [fmt_signed(v, lang(), 2) for v in comparison["delta"]],
            t("trends.delta_pct"): [
                "—" if pd.isna(v) else f"{fmt_signed(v, lang(), 1)} %" for v in comparison["delta_pct"]
            ],
            t("trends.readings"): [fmt_int(v, lang()) for v in comparison["current_count"]],
        }
    )
    right.dataframe(table, hide_index=True, width="stretch", height=min(340, 38 + 35 * len(table)))


def alert_distribution(filters, sensor_ids) -> None:
    """Alerts opened in the range by kind, by town (horizontal: whole names) and by hour of the day."""
    st.subheader(t("trends.alerts"))
    distribution = load(alerts.distribution, start=filters.start, end=filters.end, sensor_ids=sensor_ids)
    if distribution.empty:
        st.info(t("trends.alerts_none"), icon=":material/notifications_off:")
        return
    total = int(distribution.loc[distribution["dimension"] == "kind", "alerts"].sum())
    days = max((filters.end - filters.start).total_seconds() / 86400, 1e-9)
    st.caption(t("trends.alerts_caption", n=fmt_int(total, lang()), rate=fmt_number(total / days, lang(), 1)))
    a1, a2 = st.columns([1, 1.4])
    plot.show(
        charts.severity_bars(
            distribution[distribution["dimension"] == "kind"],
            title=t("trends.by_kind"),
            labels={k: t(f"alerts.kind.{k}") for k in alerts.KINDS},
        ),
        key="trends_alerts_kind",
        where=a1,
    )
    plot.show(
        charts.severity_bars(
            distribution[distribution["dimension"] == "commune"], title=t("trends.by_commune"), horizontal=True
        ),
        key="trends_alerts_commune",
        where=a2,
    )
    plot.show(
        charts.severity_bars(
            distribution[distribution["dimension"] == "hour"],
            title=t("trends.by_hour"),
            keys=[f"{h:02d}" for h in range(24)],
            labels={f"{h:02d}": fmt_hour(h, lang()) for h in range(24)},
            height=260,
        ),
        key="trends_alerts_hour",
    )


def export(totals: pd.DataFrame, plan, *, read, filters, sensor_ids, read_metrics, catalogue, units) -> None:
    """The CSV of exactly the windowed data shown, header naming source, window, range and filters. `totals` (the
    view's trends.summary) gives its size; `read()` reads its rows (trends.windowed_series), only when the
    user prepares the file: the page itself draws no per-sensor row of most series."""
    st.subheader(t("trends.export"))
    if totals.empty:
        st.caption(t("csv.empty"))
        return
    st.caption(t("trends.export_caption", rows=fmt_int(int(totals["buckets"].sum()), lang())))
    source = "raw readings" if plan.source == "raw" else f"{plan.base_window_s} s windows"
    header = {
        "Madinina Monitor": "Trends export (windowed means)",
        "source": f"{plan.table} ({source})",
        "window": f"{plan.window_s} s ({window_label(plan.window_s)})",
        "range": f"{iso_local(plan.start)} / {iso_local(plan.end)} [start, end) America/Martinique",
        "range_key": filters.range_key,
        "communes": "|".join(filters.communes) or "all",
        "kinds": "|".join(filters.kinds) or "all",
        "sensors": "|".join(filters.sensor_ids) or f"all matching ({len(sensor_ids)})",
        "metrics": "|".join(read_metrics),
        "columns": "mean/min/max/count of the readings whose time falls in [window_start, window_end); "
        "partial = true for a window cut by the end of the range",
    }
    view = signature(plan, sensor_ids, read_metrics, filters.communes, filters.kinds)
    file_name = f"madinina-trends-{plan.start.strftime('%Y%m%dT%H%M')}Z-{plan.window_s}s.csv"
    export_controls(
        lambda: build_csv(
            read(), window_s=plan.window_s, header=header, end=plan.end, catalogue=catalogue, units=units
        ),
        view_signature=view,
        file_name=file_name,
        key="trends_csv",
    )
