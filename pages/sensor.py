"""Capteur / Sensor — one sensor in detail: identity and freshness, latest value of each metric, all its metrics
over the sidebar's range (raw readings or windowed aggregates, chosen automatically and named), battery trend with
an estimated depletion date, alert history, data quality (gaps, stuck values, share of warning / critical / fault
readings). The sensor comes from the URL (?sensor_id=…, set by the Map page) or is picked here."""

from __future__ import annotations

import streamlit as st

from components import alert_history, inputs
from components import sensor_panels as sp
from components import sensor_sections as sx
from components.alert_actions import alert_actions
from components.data import load
from components.i18n import metric_label, t
from components.names import display_names
from components.sidebar import current_filters, ensure_entrypoint
from components.text import md_escape
from data_access import live, queries
from data_access import sensor as sensor_data

ss = st.session_state

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
names = display_names(catalogue)
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

sx.identity(info, sid)
history = load(sensor_data.alert_history, sensor_id=sid)
sx.freshness(info, history)

latest = load(sensor_data.latest_by_metric, sensor_id=sid)
st.markdown(f"#### {t('sensor.latest')}")
if latest.empty:
    st.info(t("sensor.no_reading"), icon=":material/hourglass_empty:")
else:
    st.dataframe(sp.latest_table(latest, labels), hide_index=True, width="stretch")
sensor_metrics = list(latest["metric"]) if len(latest) else []

# -- all its metrics over the range, battery ----------------------------------------------------------------------------
sx.series(sid, info, sensor_metrics, filters, labels, units)
sx.battery(sid, sensor_metrics, metric_rows)

# -- alerts: history, silences, actions ---------------------------------------------------------------------------------
alert_history.sensor_section(sid, history)
alert_actions((sid,))

# -- data quality --------------------------------------------------------------------------------------------------------
sx.quality(sid, info, sensor_metrics, filters, labels, units)
