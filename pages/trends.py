"""Tendances / Trends — windowed averages over the sidebar's range: evolution of key variables, comparison of
sensors and of periods, correlation between variables, alert distribution, and the CSV export of exactly the
windowed data shown. Resolution is automatic (raw readings for short ranges, tumbling aggregates for long ones)
and named on the page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import charts, inputs
from components.csv_export import build_csv, export_controls, iso_local, signature
from components.data import load
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, metric_label, t
from components.sidebar import current_filters, ensure_entrypoint, lang_key, metric_options
from data_access import alerts, live, queries, trends

MAIN_METRICS = ("temperature", "humidity", "pm10", "noise", "traffic_flow", "co2", "h2s", "parking_occupancy")
MAX_VARS = 6
MAX_COMPARED = 12
WINDOW_NAMES = {seconds: name for name, seconds in trends.WINDOWS.items()}
CMP_MODES = ("overlay", "multiples")


def window_label(seconds: int) -> str:
    name = WINDOW_NAMES.get(seconds)
    return t(f"window.{name}") if name else f"{seconds} s"


def fmt_signed(value: float, decimals: int) -> str:
    if pd.isna(value):
        return "—"
    rounded = round(float(value), decimals)
    return ("+" if rounded > 0 else "−" if rounded < 0 else "±") + fmt_number(abs(rounded), lang(), decimals)


def local_stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]  # to the minute


ensure_entrypoint()
st.title(t("trends.title"))

filters = current_filters()
catalogue = load(live.sensor_catalogue)
metrics = load(queries.metrics)
if catalogue.empty or metrics.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
sensor_ids = filters.matching_sensors(catalogue)
if not sensor_ids:
    st.warning(t("trends.no_sensor"), icon=":material/filter_alt_off:")
    st.stop()
names = dict(zip(catalogue["sensor_id"], catalogue["name"], strict=True))
short_names = {s: n.split(" – ", 1)[-1] + f" ({s})" if " – " in n else n for s, n in names.items()}
metric_rows = metrics.set_index("metric")
labels = {m: f"{metric_label(r)} ({r['unit']})" for m, r in metric_rows.iterrows()}
units = dict(zip(metrics["metric"], metrics["unit"], strict=True))
available = metric_options(catalogue, metrics, sensor_ids)

# -- page controls, mirrored in the URL (window, vars, cmp) -----------------------------------------------------
# Plain session keys hold the choices (read from the URL once); the widgets start from them. Widgets with translated
# labels carry the language in their key (see components.sidebar.lang_key).
ss = st.session_state
if "tr_window" not in ss:
    ss["tr_window"] = inputs.param_choice("window", trends.WINDOWS, "auto")
if "tr_vars" not in ss:
    wanted = list(inputs.param_ids("vars", available))
    if not wanted:
        wanted = [m for m in [filters.metric, *MAIN_METRICS] if m in available]
    ss["tr_vars"] = tuple(dict.fromkeys(wanted))[:4]
if "tr_cmp" not in ss:
    ss["tr_cmp"] = inputs.param_choice("cmp", CMP_MODES, "overlay")
inputs.flush_notices()

auto_s = trends.auto_window(filters.range_key, filters.start, filters.end)
window_options = ["auto", *trends.WINDOWS]
c1, c2, c3 = st.columns([1.3, 3.4, 2.1], vertical_alignment="bottom")
ss["tr_window"] = c1.selectbox(
    t("trends.window"),
    window_options,
    index=window_options.index(ss["tr_window"]),
    format_func=lambda k: t("trends.window.auto", w=window_label(auto_s)) if k == "auto" else t(f"window.{k}"),
    key=lang_key(f"tr_window_{auto_s}"),
)
ss["tr_vars"] = tuple(
    c2.multiselect(
        t("trends.vars"),
        available,
        default=[m for m in ss["tr_vars"] if m in available][:MAX_VARS],
        format_func=lambda m: labels.get(m, m),
        max_selections=MAX_VARS,
        key=lang_key("tr_vars"),
    )
)
ss["tr_cmp"] = (
    c3.segmented_control(
        t("trends.cmp_mode"),
        CMP_MODES,
        default=ss["tr_cmp"],
        format_func=lambda m: t(f"trends.cmp.{m}"),
        key=lang_key("tr_cmp"),
        required=True,
    )
    or "overlay"
)
window_key, chosen_vars, cmp_mode = ss["tr_window"], ss["tr_vars"], ss["tr_cmp"]
for name, value in (("window", window_key), ("vars", list(chosen_vars)), ("cmp", cmp_mode)):
    if st.query_params.get_all(name) != ([value] if isinstance(value, str) else value):
        if value:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]

metric = filters.metric if filters.metric in available else (available[0] if available else None)
key_vars = tuple(dict.fromkeys([*chosen_vars] or ([metric] if metric else [])))
read_metrics = tuple(dict.fromkeys([m for m in (metric, *key_vars) if m]))
requested_s = auto_s if window_key == "auto" else trends.WINDOWS[window_key]
reported = dict(zip(catalogue["sensor_id"], catalogue["metrics"], strict=True))
n_series = sum(1 for s in sensor_ids for m in read_metrics if m in reported.get(s, ()))
plan = trends.plan(filters.start, filters.end, requested_s, series=n_series)

st.caption(t("trends.range", start=local_stamp(plan.start), end=local_stamp(filters.end), n=len(sensor_ids)))
detail = (
    t("trends.detail.raw")
    if plan.source == "raw"
    else t("trends.detail.agg", base=window_label(plan.base_window_s) if plan.base_window_s else "")
)
st.markdown(
    t("trends.source", table=plan.table, detail=detail, window=window_label(plan.window_s), points=plan.buckets)
)
if plan.widened:
    st.warning(
        t("trends.widened", asked=window_label(plan.requested_s), used=window_label(plan.window_s)),
        icon=":material/compress:",
    )

series = load(
    trends.windowed_series,
    sensor_ids=sensor_ids,
    metrics=read_metrics,
    start=filters.start,
    end=filters.end,
    window_s=plan.window_s,
    series=n_series,
)

if series.empty:
    st.info(t("trends.no_data"), icon=":material/search_off:")
else:
    # -- evolution of the key variables ---------------------------------------------------------------------------
    st.subheader(t("trends.evolution"))
    means = trends.network_mean(series[series["metric"].isin(key_vars)])
    st.plotly_chart(
        charts.small_multiples(
            means, facet="metric", titles=labels, columns=2 if len(key_vars) > 1 else 1, band=True, order=key_vars
        ),
        width="stretch",
        key="trends_evolution",
    )
    st.caption(t("trends.evolution_caption"))

    # -- sensor comparison ------------------------------------------------------------------------------------------
    st.subheader(t("trends.sensors", metric=labels.get(metric, metric)))
    of_metric = series[series["metric"] == metric]
    with_data = [s for s in sensor_ids if s in set(of_metric["sensor_id"])]
    drawn = with_data[:MAX_COMPARED]
    compared = of_metric[of_metric["sensor_id"].isin(drawn)]
    if compared.empty:
        st.info(t("trends.no_data"))
    elif cmp_mode == "overlay":
        fig = charts.lines(compared, group="sensor_id", y_label=labels.get(metric, metric), names=short_names)
        st.plotly_chart(fig, width="stretch", key="trends_overlay")
    else:
        fig = charts.small_multiples(
            compared, facet="sensor_id", titles=short_names, columns=3, row_height=170, order=drawn
        )
        st.plotly_chart(fig, width="stretch", key="trends_multiples")
    if len(with_data) > len(drawn):
        st.caption(t("trends.sensors_truncated", shown=len(drawn), total=len(with_data)))

    # -- period over period -----------------------------------------------------------------------------------------
    st.subheader(t("trends.periods", metric=labels.get(metric, metric)))
    prev_start, prev_end = trends.previous_range(plan)
    previous = load(
        trends.windowed_series,
        sensor_ids=sensor_ids,
        metrics=(metric,),
        start=prev_start,
        end=prev_end,
        window_s=plan.window_s,
    )
    st.caption(
        t(
            "trends.periods_caption",
            cur=f"{local_stamp(plan.start)} → {local_stamp(filters.end)}",
            prev=f"{local_stamp(prev_start)} → {local_stamp(prev_end)}",
        )
    )
    if previous.empty:
        st.info(t("trends.no_previous"))
    else:
        comparison = trends.compare_periods(of_metric, previous)
        overall = comparison.iloc[0]
        unit = units.get(metric, "")
        k1, k2, k3, k4 = st.columns(4)
        k1.metric(f"{t('trends.mean_now')} ({unit})", fmt_number(overall["current"], lang(), 1), border=True)
        k2.metric(f"{t('trends.mean_prev')} ({unit})", fmt_number(overall["previous"], lang(), 1), border=True)
        k3.metric(f"{t('trends.delta')} ({unit})", fmt_signed(overall["delta"], 1), border=True)
        k4.metric(
            t("trends.delta_pct"),
            "—" if pd.isna(overall["delta_pct"]) else f"{fmt_signed(overall['delta_pct'], 1)} %",
            border=True,
        )
        left, right = st.columns([1, 1])
        shift = plan.start - prev_start
        left.plotly_chart(
            charts.period_overlay(
                trends.network_mean(of_metric), trends.network_mean(previous), shift=shift, y_label=unit
            ),
            width="stretch",
            key="trends_periods",
        )
        table = pd.DataFrame(
            {
                t("col.sensor"): [
                    t("trends.all_sensors") if s == "*" else short_names.get(s, s) for s in comparison["sensor_id"]
                ],
                t("trends.col.now"): [fmt_number(v, lang(), 2) for v in comparison["current"]],
                t("trends.col.prev"): [fmt_number(v, lang(), 2) for v in comparison["previous"]],
                t("trends.delta"): [fmt_signed(v, 2) for v in comparison["delta"]],
                t("trends.delta_pct"): [
                    "—" if pd.isna(v) else f"{fmt_signed(v, 1)} %" for v in comparison["delta_pct"]
                ],
                t("trends.readings"): comparison["current_count"],
            }
        )
        right.dataframe(table, hide_index=True, width="stretch", height=min(340, 38 + 35 * len(table)))

    # -- correlation ------------------------------------------------------------------------------------------------
    st.subheader(t("trends.correlation"))
    matrix = trends.correlation(series[series["metric"].isin(key_vars)])
    if matrix.empty:
        st.info(t("trends.correlation_need"))
    else:
        left, _ = st.columns([3, 2])
        left.plotly_chart(charts.correlation_heatmap(matrix, labels), width="stretch", key="trends_corr")
        n_windows = series[series["metric"].isin(matrix.columns)]["time"].nunique()
        st.caption(t("trends.correlation_caption", n=n_windows))

# -- alert distribution ---------------------------------------------------------------------------------------------
st.subheader(t("trends.alerts"))
distribution = load(alerts.distribution, start=filters.start, end=filters.end, sensor_ids=sensor_ids)
if distribution.empty:
    st.info(t("trends.alerts_none"), icon=":material/notifications_off:")
else:
    total = int(distribution.loc[distribution["dimension"] == "kind", "alerts"].sum())
    days = max((filters.end - filters.start).total_seconds() / 86400, 1e-9)
    st.caption(t("trends.alerts_caption", n=total, rate=fmt_number(total / days, lang(), 1)))
    a1, a2, a3 = st.columns([1, 1, 1.3])
    a1.plotly_chart(
        charts.severity_bars(
            distribution[distribution["dimension"] == "kind"],
            title=t("trends.by_kind"),
            labels={k: t(f"alerts.kind.{k}") for k in alerts.KINDS},
        ),
        width="stretch",
        key="trends_alerts_kind",
    )
    a2.plotly_chart(
        charts.severity_bars(distribution[distribution["dimension"] == "commune"], title=t("trends.by_commune")),
        width="stretch",
        key="trends_alerts_commune",
    )
    a3.plotly_chart(
        charts.severity_bars(
            distribution[distribution["dimension"] == "hour"],
            title=t("trends.by_hour"),
            keys=[f"{h:02d}" for h in range(24)],
            labels={f"{h:02d}": f"{h} h" for h in range(24)},
        ),
        width="stretch",
        key="trends_alerts_hour",
    )

# -- CSV export -----------------------------------------------------------------------------------------------------
st.subheader(t("trends.export"))
if series.empty:
    st.caption(t("csv.empty"))
else:
    st.caption(t("trends.export_caption", rows=len(series)))
    header = {
        "Madinina Monitor": "Trends export (windowed means)",
        "source": f"{plan.table} ({'raw readings' if plan.source == 'raw' else f'{plan.base_window_s} s windows'})",
        "window": f"{plan.window_s} s ({window_label(plan.window_s)})",
        "range": f"{iso_local(plan.start)} / {iso_local(filters.end)} [start, end) America/Martinique",
        "range_key": filters.range_key,
        "communes": "|".join(filters.communes) or "all",
        "kinds": "|".join(filters.kinds) or "all",
        "sensors": "|".join(filters.sensor_ids) or f"all matching ({len(sensor_ids)})",
        "metrics": "|".join(read_metrics),
        "columns": "mean/min/max/count of the readings whose time falls in [window_start, window_end)",
    }
    view = signature(plan, sensor_ids, read_metrics, filters.communes, filters.kinds)
    file_name = f"madinina-trends-{plan.start.strftime('%Y%m%dT%H%M')}Z-{plan.window_s}s.csv"
    export_controls(
        lambda: build_csv(series, window_s=plan.window_s, header=header, catalogue=catalogue, units=units),
        view_signature=view,
        file_name=file_name,
        key="trends_csv",
    )
