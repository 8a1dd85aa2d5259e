"""Carte / Map — the sensors of the sidebar's selection on a map of Martinique drawn from shipped data (coast and
approximate commune limits: no internet tile needed). Colour by freshness status or by the sidebar's metric, size
by value, heat or hexagon layer, a slider replaying the windowed aggregates of the range frame by frame, tooltips
in the chosen language. Coloured by value (or with a heat / hexagon layer) the map shows the sensors that measure
the metric; by status, all of the selection. Clicking a sensor (or picking it below the map) opens its page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import inputs
from components import map_layers as ml
from components import map_panels as mp
from components.data import load
from components.filters import URL_TIME_FORMAT, metric_options
from components.formatting import fmt_duration
from components.i18n import lang, metric_label, t
from components.inputs import LOCAL, local_to_utc
from components.names import display_names
from components.sidebar import (
    MANAGED_PARAMS,
    current_filters,
    ensure_entrypoint,
)
from data_access import live, queries
from data_access import map as map_data

ss = st.session_state


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
mp.init_controls()
if "map_frame" not in ss:  # a replayed frame travels in the URL as Martinique time (mframe=YYYY-MM-DDTHH:MM)
    wanted = inputs.param_local_time("mframe")
    ss["map_frame"] = local_to_utc(wanted) if wanted else "now"
inputs.flush_notices()
color_mode, layer_mode, show_labels = mp.draw_controls(metric)

# -- the moment shown: now, or one replay frame of the range ------------------------------------------------------------
plan = map_data.frame_plan(filters.start, filters.end)
options = [*plan.frames, "now"]
if ss["map_frame"] not in options:
    ss["map_frame"] = "now"
ss["map_frame"] = st.select_slider(
    t("map.moment"),
    options,
    value=ss["map_frame"],
    format_func=lambda f: t("map.now") if f == "now" else mp.stamp(f),
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
reported = dict(zip(catalogue["sensor_id"], catalogue["metrics"], strict=True))
points["measures"] = [metric in reported.get(s, ()) for s in points["sensor_id"]]
selected = len(points)
if metric and (color_mode == "metric" or layer_mode != "points"):  # a map of the metric: the sensors measuring it
    points = points[points["measures"]].reset_index(drop=True)
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
    points = mp.at_frame(points, frames, moment)
elif moment != "now":
    points["state"] = "silent"
else:
    points["state"] = points["status"]
scale = mp.decorate(
    points,
    metric_row=metric_row,
    metric_name=metric_name,
    unit=unit,
    color_mode=color_mode,
    layer_mode=layer_mode,
    moment=moment,
    plan=plan,
)

# -- KPIs, source ------------------------------------------------------------------------------------------------------
if metric:
    st.markdown(t("map.metric_of", metric=f"**{metric_name}** ({unit})"))
mp.kpis(points, selected=selected, metric=metric, metric_name=metric_name, unit=unit, moment=moment)
if moment == "now":
    st.caption(t("map.source.now"))
else:
    st.caption(
        t(
            "map.source.frame",
            base=fmt_duration(plan.base_window_s, lang()),
            step=fmt_duration(plan.step_s, lang()),
            frames=len(plan.frames),
            start=mp.stamp(moment),
            end=mp.stamp(pd.Timestamp(moment) + pd.Timedelta(seconds=plan.step_s)),
        )
    )
    if metric and points["count"].sum() == 0:
        st.info(t("map.frame_empty"), icon=":material/search_off:")

# -- the map, its legend (the layers' own scale) --------------------------------------------------------------------------
event = st.pydeck_chart(
    ml.deck(points, mode=layer_mode, scale=scale, labels=show_labels),
    on_select="rerun",
    selection_mode="single-object",
    key="map_deck",
    height=620,
)
picked = (event.selection.objects.get(ml.SENSOR_LAYER_ID) or []) if event else []
if picked and picked[0].get("sensor_id") in set(points["sensor_id"]):
    open_sensor(picked[0]["sensor_id"])
mp.legend(scale, color_mode=color_mode, metric_name=metric_name, unit=unit, moment=moment)
notes = [t("map.size")] if metric else []
notes.append(t("map.ring"))
if layer_mode == "hex":
    notes.append(t("map.hex_note"))
elif layer_mode == "heat":
    notes.append(t("map.heat_note"))
st.caption(" ".join(notes))
st.caption(t("map.outline_note"))
if moment != "now" and not frames.empty:
    mp.timeline(frames, moment, metric_name=metric_name, unit=unit)

# -- fallback: pick a sensor in a list ------------------------------------------------------------------------------------
names = display_names(points)
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
mp.sensor_table(points, metric=metric, metric_name=metric_name, unit=unit, moment=moment)
