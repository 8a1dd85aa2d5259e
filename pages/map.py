"""Carte / Map — the sensors of the sidebar's selection on a map of Martinique drawn from shipped data (coast and
approximate commune limits: no internet tile needed). Colour by freshness status or by the sidebar's metric, size
by value, heat or hexagon layer, a slider replaying the windowed aggregates of the range frame by frame, tooltips
in the chosen language. Clicking a sensor (or picking it below the map) opens its detail page."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import charts, inputs
from components import map_layers as ml
from components.data import load
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, metric_label, t
from components.sidebar import (
    LOCAL,
    MANAGED_PARAMS,
    URL_TIME_FORMAT,
    current_filters,
    ensure_entrypoint,
    lang_key,
    local_to_utc,
    metric_options,
)
from data_access import live, queries
from data_access import map as map_data

COLOR_MODES = ("status", "metric")
ss = st.session_state


def fmt_value(value, unit: str = "", decimals: int = 1) -> str:
    if value is None or pd.isna(value):
        return t("map.no_value")
    return f"{fmt_number(float(value), lang(), decimals)} {unit}".strip()


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]  # to the minute


def open_sensor(sensor_id: str) -> None:
    """Go to the sensor page for this sensor: the id travels in session_state and in the URL (shareable)."""
    ss["sensor_id"] = sensor_id
    keep = {name: st.query_params.get_all(name) for name in MANAGED_PARAMS if name in st.query_params}
    st.switch_page("pages/sensor.py", query_params={**keep, "sensor_id": sensor_id})


ensure_entrypoint()
st.title(t("map.title"))

filters = current_filters()
catalogue = load(live.sensor_catalogue)
metrics = load(queries.metrics)
if catalogue.empty or metrics.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
if not any(len(m) for m in catalogue["metrics"]):  # sensors are known, none has reported yet
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
sensor_ids = filters.matching_sensors(catalogue)
if not sensor_ids:
    st.warning(t("map.no_sensor"), icon=":material/filter_alt_off:")
    st.stop()
available = metric_options(catalogue, metrics, sensor_ids)
metric = filters.metric if filters.metric in available else (available[0] if available else None)
metric_rows = metrics.set_index("metric")
metric_row = metric_rows.loc[metric].to_dict() if metric in metric_rows.index else {}
unit = metric_row.get("unit", "")
metric_name = metric_label(metric_rows.loc[metric]) if metric else ""

# -- page controls: plain session keys (from the URL once), widgets start from them -----------------------------------
if "map_color" not in ss:
    ss["map_color"] = inputs.param_choice("mcolor", COLOR_MODES, "status")
if "map_layer" not in ss:
    ss["map_layer"] = inputs.param_choice("mlayer", ml.LAYER_MODES, "points")
if "map_labels" not in ss:
    ss["map_labels"] = inputs.param_choice("mlabels", ("0", "1"), "1") != "0"
if "map_frame" not in ss:  # a replayed frame travels in the URL as Martinique time (mframe=YYYY-MM-DDTHH:MM)
    wanted = inputs.param_local_time("mframe")
    ss["map_frame"] = local_to_utc(wanted) if wanted else "now"
inputs.flush_notices()

c1, c2, c3 = st.columns([2, 3, 2], vertical_alignment="bottom")
ss["map_color"] = (
    c1.segmented_control(
        t("map.color"),
        COLOR_MODES,
        default=ss["map_color"] if metric else "status",
        format_func=lambda m: t(f"map.color.{m}"),
        key=lang_key("map_color_w"),
        required=True,
        disabled=metric is None,
    )
    or "status"
)
ss["map_layer"] = (
    c2.segmented_control(
        t("map.layer"),
        ml.LAYER_MODES,
        default=ss["map_layer"] if metric else "points",
        format_func=lambda m: t(f"map.layer.{m}"),
        key=lang_key("map_layer_w"),
        required=True,
        disabled=metric is None,
    )
    or "points"
)
ss["map_labels"] = c3.toggle(t("map.labels"), value=ss["map_labels"], key=lang_key("map_labels_w"))
for name, value, default in (
    ("mcolor", ss["map_color"], "status"),
    ("mlayer", ss["map_layer"], "points"),
    ("mlabels", "1" if ss["map_labels"] else "0", "1"),
):
    if value == default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value
color_mode = ss["map_color"] if metric else "status"
layer_mode = ss["map_layer"] if metric else "points"

# -- the moment shown: now, or one replay frame of the range ------------------------------------------------------------
plan = map_data.frame_plan(filters.start, filters.end)
options = [*plan.frames, "now"]
if ss["map_frame"] not in options:
    ss["map_frame"] = "now"
ss["map_frame"] = st.select_slider(
    t("map.moment"),
    options,
    value=ss["map_frame"],
    format_func=lambda f: t("map.now") if f == "now" else stamp(f),
)
moment = ss["map_frame"]
if moment == "now":
    if "mframe" in st.query_params:
        del st.query_params["mframe"]
else:
    frame_param = moment.astimezone(LOCAL).strftime(URL_TIME_FORMAT)
    if st.query_params.get("mframe") != frame_param:
        st.query_params["mframe"] = frame_param
if metric is None:
    st.caption(t("map.no_metric"))

points = load(map_data.sensor_points, sensor_ids=sensor_ids, metric=metric).copy()
frames = pd.DataFrame()
if moment != "now" and metric is not None:
    frames = load(
        map_data.replay_frames,
        metric=metric,
        sensor_ids=sensor_ids,
        start=plan.start,
        end=plan.end,
        step_s=plan.step_s,
        base_window_s=plan.base_window_s,
    )
    shown = frames[frames["frame"] == pd.Timestamp(moment)].set_index("sensor_id")
    points = points.drop(columns=["value", "value_time", "value_status"])
    points = points.join(shown[["value", "min", "max", "count", "n_warning", "n_critical"]], on="sensor_id")
    points["count"] = points["count"].fillna(0).astype("int64")
    points["state"] = points["count"].map(lambda n: "reported" if n > 0 else "silent")
elif moment != "now":
    points["state"] = "silent"
else:
    points["state"] = points["status"]

# -- colours, sizes, rings, tooltips -----------------------------------------------------------------------------------
values = points["value"] if metric else pd.Series(float("nan"), index=points.index)
stops = None
if color_mode == "metric":
    points["color"], stops = ml.value_colors(values, metric_row)
else:
    palette = {"reported": ml.RGB["online"], "silent": ml.GREY[:3], **{s: ml.RGB[s] for s in live.STATUSES}}
    points["color"] = [[*palette[s], 235] for s in points["state"]]
points["radius"] = ml.radii(values) if metric else [ml.RADIUS_FIXED_M] * len(points)


def ring(row) -> list[int]:
    level = row.get("value_status")
    if moment != "now":
        level = "critical" if row.get("n_critical", 0) > 0 else "warning" if row.get("n_warning", 0) > 0 else None
    return [*ml.RGB[level], 255] if level in ("warning", "critical") else ml.WHITE


points["line"] = [ring(row) for _, row in points.iterrows()]
sep = " : " if lang() == "fr" else ": "


def tip(row) -> str:
    state = t(f"map.status.{row['state']}") if moment != "now" else t(f"status.{row['status']}")
    lines = [
        (t("map.tip.id"), row["sensor_id"]),
        (t("map.tip.commune"), row["commune"]),
        (t("map.tip.kind"), t(f"kind.{row['kind']}")),
        (t("map.tip.status"), state),
    ]
    if metric:
        lines.append((metric_name, fmt_value(row["value"], unit)))
    if moment == "now":
        lines.append((t("map.tip.last"), fmt_time(row["last_time"], lang(), with_date=True)))
    else:
        end = pd.Timestamp(moment) + pd.Timedelta(seconds=plan.step_s)
        lines.append((t("map.tip.frame"), f"{stamp(moment)} → {fmt_time(end, lang())[:-3]}"))
        if row.get("count", 0):
            lines.append((t("map.tip.range"), f"{fmt_value(row['min'], '')} – {fmt_value(row['max'], unit)}"))
            lines.append((t("map.tip.count"), str(int(row["count"]))))
    return ml.tooltip_html(row["name"], lines, sep)


points["tip"] = [tip(row) for _, row in points.iterrows()]

# -- KPIs, source ------------------------------------------------------------------------------------------------------
if metric:
    st.markdown(t("map.metric_of", metric=f"**{metric_name}** ({unit})"))
k = st.columns([1, 1.45, 1, 1, 1])
present = values.dropna()
if moment == "now":
    counts = live.status_counts(points)
    k[0].metric(t("map.shown"), counts["total"], border=True)
    k[1].metric(
        f"{t('status.online').capitalize()} / {t('status.stale')} / {t('status.offline')}",
        f"{counts['online']} / {counts['stale']} / {counts['offline']}",
        border=True,
    )
else:
    k[0].metric(t("map.shown"), len(points), border=True)
    k[1].metric(t("map.reported"), f"{int((points['count'] > 0).sum())} / {len(points)}", border=True)
for col, label, value in (
    (k[2], t("map.mean"), present.mean() if len(present) else None),
    (k[3], t("map.min"), present.min() if len(present) else None),
    (k[4], t("map.max"), present.max() if len(present) else None),
):
    shown = fmt_number(float(value), lang(), 1) if metric and value is not None and pd.notna(value) else "—"
    col.metric(f"{label} ({unit})" if metric and unit else label, shown, border=True)

if moment == "now":
    st.caption(t("map.source.now"))
else:
    window_name = {60: "1 min", 3600: "1 h"}
    step_name = f"{plan.step_s // 60} min" if plan.step_s < 3600 else f"{plan.step_s // 3600} h"
    st.caption(
        t(
            "map.source.frame",
            base=window_name[plan.base_window_s],
            step=step_name,
            frames=len(plan.frames),
            start=stamp(moment),
            end=stamp(pd.Timestamp(moment) + pd.Timedelta(seconds=plan.step_s)),
        )
    )
    if metric and points["count"].sum() == 0:
        st.info(t("map.frame_empty"), icon=":material/search_off:")

# -- the map -------------------------------------------------------------------------------------------------------------
event = st.pydeck_chart(
    ml.deck(points, mode=layer_mode, labels=ss["map_labels"]),
    on_select="rerun",
    selection_mode="single-object",
    key="map_deck",
    height=620,
)
picked = (event.selection.objects.get(ml.SENSOR_LAYER_ID) or []) if event else []
if picked and picked[0].get("sensor_id") in set(points["sensor_id"]):
    open_sensor(picked[0]["sensor_id"])

# Legend.
if color_mode == "metric" and stops is not None:
    lo, hi = (float(present.min()), float(present.max())) if len(present) else (stops[0][0], stops[-1][0])
    st.html(ml.legend_gradient(stops, lambda v: fmt_number(v, lang(), 1), f"{metric_name} ({unit})", lo, hi))
elif moment == "now":
    st.html(ml.legend_swatches([(ml.RGB[s], t(f"status.{s}")) for s in live.STATUSES]))
else:
    st.html(ml.legend_swatches([(ml.RGB["online"], t("map.status.reported")), (ml.GREY, t("map.status.silent"))]))
notes = [t("map.size")] if metric else []
notes.append(t("map.ring"))
if layer_mode == "hex":
    notes.append(t("map.hex_note"))
elif layer_mode == "heat":
    notes.append(t("map.heat_note"))
st.caption(" ".join(notes))
st.caption(t("map.outline_note"))

# Network mean per frame, with the moment shown marked.
if moment != "now" and not frames.empty:
    per_frame = frames.groupby("frame").apply(
        lambda g: (g["value"] * g["count"]).sum() / g["count"].sum(), include_groups=False
    )
    fig = go.Figure(
        go.Scatter(
            x=charts.local_naive(pd.Series(per_frame.index)),
            y=per_frame.values,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=charts.PALETTE[0]),
            name=metric_name,
        )
    )
    fig.add_vline(x=charts.local_naive(pd.Series([pd.Timestamp(moment)])).iloc[0], line_color="#c5221f")
    charts.style(fig, height=160, legend=False)
    fig.update_layout(title=dict(text=t("map.timeline"), font=dict(size=12)), margin=dict(t=30, b=10))
    fig.update_yaxes(title_text=unit)
    st.plotly_chart(fig, width="stretch", key="map_timeline")

# -- fallback: pick a sensor in a list ------------------------------------------------------------------------------------
names = dict(zip(points["sensor_id"], points["name"], strict=True))
st.markdown(t("map.click_hint"))
p1, p2 = st.columns([4, 1], vertical_alignment="bottom")
choice = p1.selectbox(
    t("map.pick"),
    list(points["sensor_id"]),
    format_func=lambda s: f"{names.get(s, s)} ({s})",
    key="map_pick",
    label_visibility="collapsed",
)
if p2.button(t("map.open"), icon=":material/open_in_new:", width="stretch") and choice:
    open_sensor(choice)

with st.expander(t("map.table")):
    table = pd.DataFrame(
        {
            t("col.sensor"): [f"{n} ({s})" for s, n in zip(points["sensor_id"], points["name"], strict=True)],
            t("col.commune"): points["commune"],
            t("col.kind"): [t(f"kind.{k}") for k in points["kind"]],
            t("col.status"): [t(f"map.status.{s}") if moment != "now" else t(f"status.{s}") for s in points["state"]],
            (f"{metric_name} ({unit})" if metric else t("col.value")): [
                fmt_number(v, lang(), 1) if pd.notna(v) else "—" for v in values
            ],
            t("col.last_seen"): [fmt_time(v, lang(), with_date=True) for v in points["last_time"]],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
