"""Pipeline — how the ingestion is doing over the sidebar's range: latency of each stage (p50 / p95 / p99 from
get_pipeline_latency_stats), throughput of every processor over the range (readings/s stored, messages/s received:
ingest_ledger and stream_batches), freshness of every sensor worst first (status strip and table), messages
quarantined by reason with samples (escaped and truncated: payloads are untrusted) and their CSV, and the consumers'
state with what waits in their durable spools (ingest_status heartbeats)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import inputs
from components import pipeline_panels as pp
from components import quarantine_panels as qp
from components.csv_export import export_controls, iso_local, signature
from components.data import load
from components.deferred import Deferred
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, t
from components.sensor_panels import fmt_duration
from components.sidebar import current_filters, ensure_entrypoint, lang_key
from data_access import live, pipeline

SAMPLES_PER_REASON = 5
ss = st.session_state
later = Deferred()  # charts and tables go out after the KPI cards, in their places (components/deferred.py)


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]


ensure_entrypoint()
st.title(t("pipeline.title"))
inputs.flush_notices()  # the sidebar's (this page has no parameter of its own)
filters = current_filters()
catalogue = load(live.sensor_catalogue)
if catalogue.empty:
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
    st.stop()
if not any(len(m) for m in catalogue["metrics"]):  # sensors are known, none has reported yet
    st.info(t("db.empty"), icon=":material/hourglass_empty:")
st.caption(t("pipeline.range", start=stamp(filters.start), end=stamp(filters.end)))
span_s = int((filters.end - filters.start).total_seconds())

# -- latency per stage --------------------------------------------------------------------------------------------------
st.subheader(t("pipeline.latency"))
if filters.range_key == "custom":
    stats = load(pipeline.stage_latency, start=filters.start, end=filters.end)
    source = t("pipeline.latency.source_range")
else:
    stats = load(pipeline.stage_latency, seconds=span_s)
    source = t("pipeline.latency.source", interval=f"{span_s} seconds")
if stats["samples"].sum() == 0:
    st.info(t("pipeline.latency.none"), icon=":material/timer_off:")
else:
    later(st.dataframe, pp.latency_table(stats), hide_index=True, width="stretch")
    unmeasured = [t(f"stage.{s}") for s, n in zip(stats["stage"], stats["samples"], strict=True) if n == 0]
    if unmeasured:
        st.caption(t("pipeline.latency.unmeasured", stages=", ".join(unmeasured)))
    later(st.plotly_chart, pp.latency_figure(stats), width="stretch", key="pipeline_latency")
    lat_step = pipeline.throughput_step(filters.start, filters.end, pipeline.LATENCY_POINTS)
    over_time = load(pipeline.latency_series, start=filters.start, end=filters.end, step_s=lat_step)
    if not over_time.empty:
        fig = pp.latency_over_time(over_time, start=filters.start, end=filters.end, step_s=lat_step)
        later(st.plotly_chart, fig, width="stretch", key="pipeline_latency_time")
st.caption(source)

# -- throughput: every processor, over the whole range ------------------------------------------------------------------
st.subheader(t("pipeline.throughput"))
step_s = pipeline.throughput_step(filters.start, filters.end)
flow = load(pipeline.throughput, start=filters.start, end=filters.end, step_s=step_s)
if flow.empty:
    st.info(t("pipeline.throughput.none"), icon=":material/hourglass_empty:")
else:
    per_bucket = flow.groupby("time")["readings"].sum()
    lite = flow[flow["processor"].map(pipeline.RECEIVED_UNIT).eq("messages")]
    k = st.columns(4)
    k[0].metric(t("pipeline.stored"), fmt_number(int(flow["readings"].sum()), lang(), 0), border=True)
    k[1].metric(
        t("pipeline.received"),
        fmt_number(int(lite["received"].sum()), lang(), 0),
        help=t("pipeline.received_help"),
        border=True,
    )
    mean = flow["readings"].sum() / max(span_s, 1)
    k[2].metric(t("pipeline.rate"), fmt_number(mean, lang(), 1 if mean >= 10 else 2), border=True)
    peak = per_bucket.max() / step_s
    k[3].metric(
        t("pipeline.peak"),
        fmt_number(peak, lang(), 1 if peak >= 10 else 2),
        help=t("pipeline.peak_help", step=fmt_duration(step_s)),
        border=True,
    )
    for i, fig in enumerate(pp.throughput_figures(flow, start=filters.start, end=filters.end, step_s=step_s)):
        later(st.plotly_chart, fig, width="stretch", key=f"pipeline_throughput_{i}")
    st.caption(t("pipeline.batches_caption", n=fmt_number(int(flow["batches"].sum()), lang(), 0)))
st.caption(t("pipeline.throughput.source", step=fmt_duration(step_s)))

# -- freshness per sensor: worst first ----------------------------------------------------------------------------------
st.subheader(t("pipeline.freshness"))
sensor_ids = filters.matching_sensors(catalogue)
if not sensor_ids:
    st.warning(t("pipeline.no_sensor"), icon=":material/filter_alt_off:")
else:
    fresh = load(pipeline.freshness, sensor_ids=sensor_ids)
    names = dict(zip(catalogue["sensor_id"], catalogue["name"], strict=True))
    counts = fresh["state"].value_counts()
    st.caption(
        t(
            "pipeline.freshness.caption",
            n=len(fresh),
            **{s: int(counts.get(s, 0)) for s in pp.STATE_ORDER},
        )
    )
    if int(counts.get("never", 0)) == len(fresh):
        st.info(t("pipeline.freshness.none"), icon=":material/hourglass_empty:")
    else:
        later(st.plotly_chart, pp.freshness_strip(fresh, names), width="stretch", key="pipeline_freshness")
    later(st.dataframe, pp.freshness_table(fresh, names), hide_index=True, width="stretch", height=320)

# -- quarantine ---------------------------------------------------------------------------------------------------------
st.subheader(t("pipeline.quarantine"))
counts = load(pipeline.quarantine_counts, start=filters.start, end=filters.end)
if counts.empty:
    st.success(t("pipeline.quarantine.none"), icon=":material/verified:")
else:
    q = st.columns([1, 1, 2])
    q[0].metric(t("pipeline.quarantine.total"), fmt_number(int(counts["messages"].sum()), lang(), 0), border=True)
    q[1].metric(t("pipeline.quarantine.reasons"), len(counts), border=True)
    later(st.plotly_chart, qp.quarantine_figure(counts), width="stretch", key="pipeline_quarantine")
    later(st.dataframe, qp.quarantine_table(counts), hide_index=True, width="stretch")
    reasons = ["*", *counts["reason"]]
    if ss.get("pipeline_reason") not in reasons:
        ss["pipeline_reason"] = "*"
    ss["pipeline_reason"] = st.selectbox(
        t("pipeline.quarantine.reason_pick"),
        reasons,
        index=reasons.index(ss["pipeline_reason"]),
        format_func=lambda r: t("pipeline.quarantine.all") if r == "*" else qp.reason_label(r),
        key=lang_key("pipeline_reason_w"),
    )
    chosen = ss["pipeline_reason"]
    samples = load(
        pipeline.quarantine_samples,
        start=filters.start,
        end=filters.end,
        reason=None if chosen == "*" else chosen,
        per_reason=SAMPLES_PER_REASON,
    )
    later(st.dataframe, qp.samples_table(samples), hide_index=True, width="stretch")
    st.caption(t("pipeline.quarantine.samples", n=SAMPLES_PER_REASON, chars=pipeline.SAMPLE_CHARS))
    header = {
        "Madinina Monitor": "Pipeline quarantine samples (as shown)",
        "source": f"quarantine, the {SAMPLES_PER_REASON} most recent per reason",
        "range": f"{iso_local(filters.start)} / {iso_local(filters.end)} [start, end) America/Martinique",
        "reason": "all" if chosen == "*" else chosen,
        "payload": f"escaped as shown (control characters as \\n, \\x00...), first {pipeline.SAMPLE_CHARS} characters; "
        "payload_chars = full length",
    }
    export_controls(
        lambda: qp.quarantine_csv(samples, header),
        view_signature=signature(filters.start, filters.end, chosen, len(samples)),
        file_name=f"madinina-quarantine-{filters.start.strftime('%Y%m%dT%H%M')}Z.csv",
        key="pipeline_csv",
    )

# -- ingestion: consumers and their spools ----------------------------------------------------------------------------
st.subheader(t("pipeline.ingest"))
status = load(pipeline.ingest_status)
if status.empty:
    st.info(t("pipeline.ingest.none"), icon=":material/sensors_off:")
else:
    k = st.columns(3)
    k[0].metric(t("pipeline.ingest.waiting"), fmt_number(int(status["spool_depth"].sum()), lang(), 0), border=True)
    oldest = status["oldest_unsent_at"].min()
    k[1].metric(t("pipeline.ingest.oldest"), "—" if pd.isna(oldest) else stamp(oldest), border=True)
    later(st.dataframe, pp.ingest_status_table(status), hide_index=True, width="stretch")
st.caption(t("pipeline.ingest.caption"))
later.flush()
