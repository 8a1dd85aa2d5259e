"""Pieces of the Pipeline page: per-stage latency table and chart, throughput chart, freshness per sensor chart,
quarantine tables (payloads escaped and truncated: they are untrusted text)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from components import charts
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, t
from components.sensor_panels import fmt_duration
from components.text import plotly_text
from data_access.pipeline import SAMPLE_CHARS, escape_payload


def reason_label(reason: str) -> str:
    label = t(f"reason.{reason}")
    return f"{label} ({reason})" if not label.startswith("reason.") else reason


def ms(value) -> str:
    return "—" if value is None or pd.isna(value) else fmt_number(float(value), lang(), 1)


HEARTBEAT_SILENT_S = 30  # heartbeats come every 5 s: six missed ones and the consumer is reported silent


def ingest_state(row) -> str:
    state = row["state"] if row["state"] == "stopped" or row["heartbeat_age_s"] <= HEARTBEAT_SILENT_S else "silent"
    label = t(f"ingest.state.{state}")
    return state if label.startswith("ingest.state.") else label


def ingest_status_table(status: pd.DataFrame) -> pd.DataFrame:
    """The consumers' heartbeats for display: every value is plain text (consumer names and errors included)."""
    return pd.DataFrame(
        {
            t("ingest.col.consumer"): [
                f"{c} ({h}, pid {p})" for c, h, p in zip(status["consumer"], status["host"], status["pid"], strict=True)
            ],  # fmt: skip
            t("ingest.col.state"): [ingest_state(row) for _, row in status.iterrows()],
            t("ingest.col.spool"): [fmt_number(int(n), lang(), 0) for n in status["spool_depth"]],
            t("ingest.col.oldest"): [
                "—" if pd.isna(v) else fmt_time(v, lang(), with_date=True) for v in status["oldest_unsent_at"]
            ],
            t("ingest.col.commit"): [
                "—" if pd.isna(v) else fmt_time(v, lang(), with_date=True) for v in status["last_commit_at"]
            ],
            t("ingest.col.heartbeat"): [fmt_duration(float(v)) for v in status["heartbeat_age_s"]],
            t("ingest.col.error"): list(status["last_error"]),
        }
    )


def latency_table(stats: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("pipeline.col.stage"): [t(f"stage.{s}") for s in stats["stage"]],
            t("pipeline.col.samples"): [fmt_number(int(n), lang(), 0) for n in stats["samples"]],
            t("pipeline.col.avg"): [ms(v) for v in stats["avg_ms"]],
            t("pipeline.col.p50"): [ms(v) for v in stats["p50_ms"]],
            t("pipeline.col.p95"): [ms(v) for v in stats["p95_ms"]],
            t("pipeline.col.p99"): [ms(v) for v in stats["p99_ms"]],
            t("pipeline.col.max"): [ms(v) for v in stats["max_ms"]],
        }
    )


LOG_TICKS_MS = tuple(m * 10**e for e in range(-1, 6) for m in (1, 2, 5))
AGE_TICKS_S = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)


def log_ticks(values, ticks, label) -> dict:
    """Explicit ticks for a log axis (Plotly labels every minor tick otherwise): the ticks around the values."""
    values = [float(v) for v in values if v is not None and not pd.isna(v) and v > 0]
    lo, hi = (min(values), max(values)) if values else (1.0, 10.0)
    chosen = [v for v in ticks if lo / 3 <= v <= hi * 3] or list(ticks[:2])
    return dict(tickmode="array", tickvals=chosen, ticktext=[label(v) for v in chosen])


def latency_figure(stats: pd.DataFrame) -> go.Figure:
    """Horizontal grouped bars per stage: p50, p95, p99 (log scale: stages differ by orders of magnitude)."""
    measured = stats[stats["samples"] > 0].iloc[::-1]  # first stage on top
    fig = go.Figure()
    for i, (column, name) in enumerate((("p99_ms", "p99"), ("p95_ms", "p95"), ("p50_ms", "p50"))):
        fig.add_trace(
            go.Bar(
                y=[t(f"stage.{s}") for s in measured["stage"]],
                x=measured[column].clip(lower=0.01),
                name=name,
                orientation="h",
                marker_color=charts.PALETTE[2 - i],
                text=[ms(v) for v in measured[column]],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig.update_xaxes(
        type="log",
        title_text=t("pipeline.latency_axis"),
        **log_ticks(
            measured[["p50_ms", "p99_ms"]].to_numpy().ravel(),
            LOG_TICKS_MS,
            lambda v: fmt_number(v, lang(), 0 if v >= 1 else 1),
        ),
    )
    charts.style(fig, height=110 + 70 * len(measured), time_axis=False)
    fig.update_layout(
        barmode="group",
        hovermode="closest",
        margin=dict(l=10, r=50, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, traceorder="reversed"),
    )
    return fig


def throughput_figure(frame: pd.DataFrame, step_label: str, *, start=None, end=None, step_s: int = 60) -> go.Figure:
    """Readings stored per bucket, stacked by processor, over the whole range [start, end) (a single busy minute
    stays a narrow bar)."""
    fig = go.Figure()
    for i, (processor, part) in enumerate(frame.groupby("processor", sort=True)):
        part = charts.cap_points(part.sort_values("time"))
        fig.add_trace(
            go.Bar(
                x=charts.local_naive(part["time"] + pd.Timedelta(seconds=step_s / 2)),
                y=part["rows"],
                width=step_s * 1000 * 0.9,
                name=processor,
                marker_color=charts.PALETTE[i % len(charts.PALETTE)],
            )
        )
    fig.update_yaxes(title_text=t("pipeline.rows_axis", step=step_label))
    if start is not None and end is not None:
        bounds = charts.local_naive(pd.Series(pd.to_datetime([start, end], utc=True)))
        fig.update_xaxes(range=[bounds.iloc[0], bounds.iloc[1]])
    charts.style(fig, height=300)
    fig.update_layout(barmode="stack", bargap=0.05)
    return fig


def freshness_figure(fresh: pd.DataFrame, names: dict[str, str]) -> go.Figure:
    """One horizontal bar per sensor that has reported: age of its last reading, coloured by status."""
    seen = fresh[fresh["age_s"].notna()].sort_values("age_s", ascending=True)
    labels = [plotly_text(f"{names.get(s, s)} ({s})") for s in seen["sensor_id"]]
    fig = go.Figure(
        go.Bar(
            x=seen["age_s"].clip(lower=0.1),
            y=labels,
            orientation="h",
            marker_color=[charts.STATUS_COLORS[s] for s in seen["status"]],
            text=[fmt_duration(v) for v in seen["age_s"]],
            textposition="outside",
            cliponaxis=False,
            hovertext=[t(f"status.{s}") for s in seen["status"]],
        )
    )
    fig.update_xaxes(
        type="log", title_text=t("pipeline.age_axis"), **log_ticks(seen["age_s"], AGE_TICKS_S, fmt_duration)
    )
    charts.style(fig, height=max(220, 60 + 18 * len(seen)), legend=False, time_axis=False)
    fig.update_layout(hovermode="closest", margin=dict(l=10, r=60, t=10, b=10))
    fig.update_yaxes(tickfont=dict(size=10))
    return fig


def freshness_table(fresh: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("pipeline.col.sensor"): [f"{names.get(s, s)} ({s})" for s in fresh["sensor_id"]],
            t("col.commune"): fresh["commune"],
            t("col.status"): [t(f"status.{s}") for s in fresh["status"]],
            t("pipeline.col.age"): [fmt_duration(v) if pd.notna(v) else "—" for v in fresh["age_s"]],
            t("pipeline.col.last_reading"): [fmt_time(v, lang(), with_date=True) for v in fresh["last_time"]],
            t("pipeline.col.interval"): [fmt_duration(v) for v in fresh["expected_interval_s"]],
        }
    )


def quarantine_figure(counts: pd.DataFrame) -> go.Figure:
    ordered = counts.sort_values("messages")
    fig = go.Figure(
        go.Bar(
            x=ordered["messages"],
            y=[plotly_text(reason_label(r)) for r in ordered["reason"]],
            orientation="h",
            marker_color=charts.SEVERITY_COLORS["warning"],
            text=[fmt_number(int(n), lang(), 0) for n in ordered["messages"]],
            textposition="outside",
            cliponaxis=False,
        )
    )
    charts.style(fig, height=max(160, 50 + 28 * len(ordered)), legend=False, time_axis=False)
    fig.update_layout(hovermode="closest", margin=dict(l=10, r=50, t=10, b=10))
    return fig


def quarantine_table(counts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("pipeline.col.reason"): [reason_label(r) for r in counts["reason"]],
            t("pipeline.col.messages"): [fmt_number(int(n), lang(), 0) for n in counts["messages"]],
            t("pipeline.col.first"): [fmt_time(v, lang(), with_date=True) for v in counts["first_at"]],
            t("pipeline.col.last"): [fmt_time(v, lang(), with_date=True) for v in counts["last_at"]],
            t("pipeline.col.sources"): counts["sources"],
        }
    )


def samples_table(samples: pd.DataFrame, max_chars: int = SAMPLE_CHARS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("pipeline.col.received"): [fmt_time(v, lang(), with_date=True) for v in samples["received_at"]],
            t("pipeline.col.source"): [escape_payload(s, max_chars=64) for s in samples["source"]],
            t("pipeline.col.reason"): [reason_label(r) for r in samples["reason"]],
            t("pipeline.col.detail"): [escape_payload(d, max_chars=200) for d in samples["detail"]],
            t("pipeline.col.payload"): [
                escape_payload(p, n, max_chars)
                for p, n in zip(samples["payload"], samples["payload_chars"], strict=True)
            ],
            t("pipeline.col.size"): [fmt_number(int(n), lang(), 0) for n in samples["payload_chars"]],
        }
    )


def step_name(step_s: int) -> str:
    """'minute', '5 min', 'hour'... for axis titles."""
    if step_s == 60:
        return "minute"
    if step_s % 3600 == 0:
        hours = step_s // 3600
        return ("heure" if lang() == "fr" else "hour") if hours == 1 else f"{hours} h"
    return f"{math.ceil(step_s / 60)} min"
