"""Tendances / Trends — windowed averages over the sidebar's range: evolution of key variables, comparison of
sensors and of periods, correlation between variables, alert distribution, and the CSV export of exactly the
windowed data shown. Resolution is automatic (raw readings for short ranges, tumbling aggregates for long ones)
and named on the page."""

from __future__ import annotations

import streamlit as st

from components import charts, inputs, plot
from components import trends_panels as tp
from components.data import load
from components.filters import metric_options
from components.i18n import metric_label, t
from components.names import place_names
from components.sidebar import current_filters, ensure_entrypoint, lang_key
from data_access import live, queries, trends

MAIN_METRICS = ("temperature", "humidity", "pm10", "noise", "traffic_flow", "co2", "h2s", "parking_occupancy")
MAX_VARS = 6
MAX_COMPARED = 12
CMP_MODES = ("overlay", "multiples")
window_label, local_stamp = tp.window_label, tp.local_stamp

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
short_names = place_names(catalogue, with_id=True)
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
# Window and comparison mode share a row; the variables get the full width below them, so that four tags with
# their units are never clipped (at 1280 px the third tag was cut in a third of the row).
c1, c3, _ = st.columns([1.3, 2.1, 2.6])
c2 = st.container()
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

st.caption(t("trends.range", start=local_stamp(plan.start), end=local_stamp(plan.end), n=len(sensor_ids)))
st.caption(t("chart.zoom_hint"))
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

# What the page draws, grouped on the server: network means per (metric, bucket) for the charts of every key
# variable, per-sensor totals for the comparison table, the sensors with data and the export's size; per-sensor
# buckets only for the sensors drawn. The export's per-sensor rows are read when it is prepared (tp.export).
window_args = dict(start=filters.start, end=filters.end, window_s=plan.window_s, series=n_series)
means, totals = load(trends.summary, sensor_ids=sensor_ids, metrics=read_metrics, **window_args)

if means.empty:
    st.info(t("trends.no_data"), icon=":material/search_off:")
else:
    # -- evolution of the key variables ---------------------------------------------------------------------------
    st.subheader(t("trends.evolution"))
    key_means = means[means["metric"].isin(key_vars)]
    plot.show(
        charts.small_multiples(
            key_means,
            facet="metric",
            titles=labels,
            columns=2 if len(key_vars) > 1 else 1,
            band=True,
            order=key_vars,
            units=units,
        ),
        key="trends_evolution",
        zoom=True,
    )
    st.caption(t("trends.evolution_caption"))

    # -- sensor comparison ------------------------------------------------------------------------------------------
    st.subheader(t("trends.sensors", metric=labels.get(metric, metric)))
    of_metric = totals[totals["metric"] == metric]
    with_data = [s for s in sensor_ids if s in set(of_metric["sensor_id"])]
    drawn = tuple(with_data[:MAX_COMPARED])
    if not drawn:
        st.info(t("trends.no_data"))
    else:
        compared = load(trends.windowed_series, sensor_ids=drawn, metrics=(metric,), **window_args)
        if cmp_mode == "overlay":
            fig = charts.lines(
                compared,
                group="sensor_id",
                y_label=labels.get(metric, metric),
                names=short_names,
                unit=units.get(metric, ""),
            )
            plot.show(fig, key="trends_overlay", zoom=True)
        else:
            fig = charts.small_multiples(
                compared,
                facet="sensor_id",
                titles=short_names,
                columns=3,
                row_height=170,
                order=list(drawn),
                units=dict.fromkeys(drawn, units.get(metric, "")),
            )
            plot.show(fig, key="trends_multiples", zoom=True)
    if len(with_data) > len(drawn):
        st.caption(t("trends.sensors_truncated", shown=len(drawn), total=len(with_data)))

    # -- period over period -----------------------------------------------------------------------------------------
    st.subheader(t("trends.periods", metric=labels.get(metric, metric)))
    tp.periods(
        plan,
        means[means["metric"] == metric],
        of_metric,
        sensor_ids=sensor_ids,
        metric=metric,
        unit=units.get(metric, ""),
        names=short_names,
    )

    # -- correlation ------------------------------------------------------------------------------------------------
    st.subheader(t("trends.correlation"))
    matrix = trends.correlation(key_means)
    if matrix.empty:
        st.info(t("trends.correlation_need"))
    else:
        left, _ = st.columns([3, 2])
        plot.show(charts.correlation_heatmap(matrix, labels), key="trends_corr", where=left)
        n_windows = means[means["metric"].isin(matrix.columns)]["time"].nunique()
        st.caption(t("trends.correlation_caption", n=n_windows))

tp.alert_distribution(filters, sensor_ids)
tp.export(
    totals,
    plan,
    read=lambda: load(trends.windowed_series, sensor_ids=sensor_ids, metrics=read_metrics, **window_args),
    filters=filters,
    sensor_ids=sensor_ids,
    read_metrics=read_metrics,
    catalogue=catalogue,
    units=units,
)
