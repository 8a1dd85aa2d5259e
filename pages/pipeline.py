"""Pipeline — how the ingestion is doing over the sidebar's range: latency of each stage (p50 / p95 / p99 from
get_pipeline_latency_stats), readings stored over time (pipeline_kpi), freshness of every sensor, messages
quarantined by reason with samples (escaped and truncated: payloads are untrusted), and the consumers' state with
what waits in their durable spools (ingest_status heartbeats)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import inputs
from components import pipeline_panels as pp
from components.data import load
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, register, t
from components.sidebar import current_filters, ensure_entrypoint, lang_key
from data_access import live, pipeline

register(
    {
        "pipeline.title": {"fr": "Pipeline", "en": "Pipeline"},
        "pipeline.range": {
            "fr": "Du {start} au {end} (heure de Martinique)",
            "en": "From {start} to {end} (Martinique time)",
        },
        "pipeline.ingest": {"fr": "Ingestion", "en": "Ingestion"},
        "pipeline.ingest.waiting": {"fr": "En attente dans les spools", "en": "Waiting in the spools"},
        "pipeline.ingest.oldest": {"fr": "Plus ancien non écrit", "en": "Oldest unsent"},
        "pipeline.ingest.none": {
            "fr": "Aucun consommateur n'a encore donné signe de vie (table ingest_status vide).",
            "en": "No consumer has reported yet (ingest_status is empty).",
        },
        "pipeline.ingest.caption": {
            "fr": "Chaque consommateur écrit d'abord les messages dans un spool local durable, puis en base ; "
            "s'il est à l'arrêt ou la base indisponible, le spool garde tout. `python -m ingestion status` donne "
            "le même état sur la machine du consommateur, même base arrêtée.",
            "en": "Each consumer first writes messages to a durable local spool, then to the database; while it "
            "is stopped or the database is down, the spool keeps everything. `python -m ingestion status` shows "
            "the same on the consumer's machine, even with the database down.",
        },
        "pipeline.latency": {"fr": "Latence par étape", "en": "Latency per stage"},
        "pipeline.latency.source": {
            "fr": "Source : `get_pipeline_latency_stats('{interval}')` sur **pipeline_kpi** (une mesure par lot et "
            "par étape).",
            "en": "Source: `get_pipeline_latency_stats('{interval}')` on **pipeline_kpi** (one sample per batch and "
            "stage).",
        },
        "pipeline.latency.source_range": {
            "fr": "Source : **pipeline_kpi**, mêmes percentiles que `get_pipeline_latency_stats` sur la période "
            "personnalisée.",
            "en": "Source: **pipeline_kpi**, the same percentiles as `get_pipeline_latency_stats` over the custom "
            "range.",
        },
        "pipeline.latency.none": {
            "fr": "Aucune mesure de latence sur la période (pipeline_kpi vide) : l'ingestion tourne-t-elle ?",
            "en": "No latency sample in the range (pipeline_kpi is empty): is the ingestion running?",
        },
        "pipeline.latency.unmeasured": {
            "fr": "Étapes sans mesure : {stages} (le traitement direct n'a pas de broker).",
            "en": "Stages without samples: {stages} (the direct path has no broker).",
        },
        "pipeline.throughput": {"fr": "Débit", "en": "Throughput"},
        "pipeline.stored": {"fr": "Lectures stockées", "en": "Readings stored"},
        "pipeline.batches": {"fr": "Lots", "en": "Batches"},
        "pipeline.rate": {"fr": "Lectures/s (moyenne)", "en": "Readings/s (mean)"},
        "pipeline.peak": {"fr": "Pic par {step}", "en": "Peak per {step}"},
        "pipeline.throughput.source": {
            "fr": "Source : **pipeline_kpi**, chaque lot compté une fois, par pas de {step} et par processeur.",
            "en": "Source: **pipeline_kpi**, each batch counted once, per {step} and per processor.",
        },
        "pipeline.throughput.none": {
            "fr": "Aucun lot enregistré sur la période.",
            "en": "No batch recorded in the range.",
        },
        "pipeline.freshness": {"fr": "Fraîcheur par capteur", "en": "Freshness per sensor"},
        "pipeline.freshness.caption": {
            "fr": "{n} capteurs (filtres de la barre latérale) : {online} en ligne, {stale} en retard, {offline} hors "
            "ligne ; {never} n'ont jamais envoyé de lecture. État d'après l'intervalle attendu de chaque capteur.",
            "en": "{n} sensors (sidebar filters): {online} online, {stale} stale, {offline} offline; {never} never "
            "sent a reading. Status from each sensor's expected interval.",
        },
        "pipeline.freshness.table": {"fr": "Tableau de fraîcheur", "en": "Freshness table"},
        "pipeline.freshness.none": {
            "fr": "Aucun de ces capteurs n'a encore envoyé de lecture.",
            "en": "None of these sensors has sent a reading yet.",
        },
        "pipeline.no_sensor": {
            "fr": "Aucun capteur ne correspond aux filtres choisis.",
            "en": "No sensor matches the chosen filters.",
        },
        "pipeline.quarantine": {"fr": "Quarantaine", "en": "Quarantine"},
        "pipeline.quarantine.none": {
            "fr": "Aucun message mis en quarantaine sur la période.",
            "en": "No message quarantined in the range.",
        },
        "pipeline.quarantine.total": {"fr": "Messages en quarantaine", "en": "Messages quarantined"},
        "pipeline.quarantine.reasons": {"fr": "Motifs distincts", "en": "Distinct reasons"},
        "pipeline.quarantine.reason_pick": {"fr": "Exemples pour le motif", "en": "Samples for the reason"},
        "pipeline.quarantine.all": {"fr": "Tous les motifs", "en": "All reasons"},
        "pipeline.quarantine.samples": {
            "fr": "Les {n} plus récents par motif ; contenu tronqué à {chars} caractères, caractères de contrôle "
            "échappés (\\n, \\x00…).",
            "en": "The {n} most recent per reason; payload cut at {chars} characters, control characters escaped "
            "(\\n, \\x00…).",
        },
    }
)

SAMPLES_PER_REASON = 5
ss = st.session_state


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
    left, right = st.columns([1.8, 1])
    left.dataframe(pp.latency_table(stats), hide_index=True, width="stretch")
    unmeasured = [t(f"stage.{s}") for s, n in zip(stats["stage"], stats["samples"], strict=True) if n == 0]
    if unmeasured:
        left.caption(t("pipeline.latency.unmeasured", stages=", ".join(unmeasured)))
    right.plotly_chart(pp.latency_figure(stats), width="stretch", key="pipeline_latency")
st.caption(source)

# -- throughput ---------------------------------------------------------------------------------------------------------
st.subheader(t("pipeline.throughput"))
step_s = pipeline.throughput_step(filters.start, filters.end)
step = pp.step_name(step_s)
flow = load(pipeline.throughput, start=filters.start, end=filters.end, step_s=step_s)
if flow.empty:
    st.info(t("pipeline.throughput.none"), icon=":material/hourglass_empty:")
else:
    per_bucket = flow.groupby("time")["rows"].sum()
    k = st.columns(4)
    k[0].metric(t("pipeline.stored"), fmt_number(int(flow["rows"].sum()), lang(), 0), border=True)
    k[1].metric(t("pipeline.batches"), fmt_number(int(flow["batches"].sum()), lang(), 0), border=True)
    k[2].metric(t("pipeline.rate"), fmt_number(flow["rows"].sum() / max(span_s, 1), lang(), 1), border=True)
    k[3].metric(t("pipeline.peak", step=step), fmt_number(int(per_bucket.max()), lang(), 0), border=True)
    st.plotly_chart(
        pp.throughput_figure(flow, step, start=filters.start, end=filters.end, step_s=step_s),
        width="stretch",
        key="pipeline_throughput",
    )
st.caption(t("pipeline.throughput.source", step=step))

# -- freshness per sensor -----------------------------------------------------------------------------------------------
st.subheader(t("pipeline.freshness"))
sensor_ids = filters.matching_sensors(catalogue)
if not sensor_ids:
    st.warning(t("pipeline.no_sensor"), icon=":material/filter_alt_off:")
else:
    fresh = load(pipeline.freshness, sensor_ids=sensor_ids)
    names = dict(zip(catalogue["sensor_id"], catalogue["name"], strict=True))
    counts = live.status_counts(fresh)
    never = int(fresh["age_s"].isna().sum())
    st.caption(t("pipeline.freshness.caption", n=counts["total"], never=never, **{s: counts[s] for s in live.STATUSES}))
    if never == len(fresh):
        st.info(t("pipeline.freshness.none"), icon=":material/hourglass_empty:")
    else:
        st.plotly_chart(pp.freshness_figure(fresh, names), width="stretch", key="pipeline_freshness")
    with st.expander(t("pipeline.freshness.table")):
        st.dataframe(pp.freshness_table(fresh, names), hide_index=True, width="stretch")

# -- quarantine ---------------------------------------------------------------------------------------------------------
st.subheader(t("pipeline.quarantine"))
counts = load(pipeline.quarantine_counts, start=filters.start, end=filters.end)
if counts.empty:
    st.success(t("pipeline.quarantine.none"), icon=":material/verified:")
else:
    q = st.columns([1, 1, 2])
    q[0].metric(t("pipeline.quarantine.total"), fmt_number(int(counts["messages"].sum()), lang(), 0), border=True)
    q[1].metric(t("pipeline.quarantine.reasons"), len(counts), border=True)
    left, right = st.columns([1, 1.6])
    left.plotly_chart(pp.quarantine_figure(counts), width="stretch", key="pipeline_quarantine")
    right.dataframe(pp.quarantine_table(counts), hide_index=True, width="stretch")
    reasons = ["*", *counts["reason"]]
    if ss.get("pipeline_reason") not in reasons:
        ss["pipeline_reason"] = "*"
    ss["pipeline_reason"] = st.selectbox(
        t("pipeline.quarantine.reason_pick"),
        reasons,
        index=reasons.index(ss["pipeline_reason"]),
        format_func=lambda r: t("pipeline.quarantine.all") if r == "*" else pp.reason_label(r),
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
    st.dataframe(pp.samples_table(samples), hide_index=True, width="stretch")
    st.caption(t("pipeline.quarantine.samples", n=SAMPLES_PER_REASON, chars=pipeline.SAMPLE_CHARS))

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
    st.dataframe(pp.ingest_status_table(status), hide_index=True, width="stretch")
st.caption(t("pipeline.ingest.caption"))
