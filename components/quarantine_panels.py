"""Quarantine pieces of the Pipeline page: counts by reason (chart, table), samples and their CSV. Payloads, sources,
reasons and details are untrusted text: escaped (control characters as \\n, \\x00...) and truncated, as text."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from components import charts
from components.csv_export import table_csv
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, t
from components.text import plotly_text
from data_access.pipeline import SAMPLE_CHARS, escape_payload


def reason_label(reason: str) -> str:
    label = t(f"reason.{reason}")
    return f"{label} ({reason})" if not label.startswith("reason.") else reason


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
    # Counts are whole numbers: integer ticks (never 0,5 steps)
    fig.update_xaxes(tickformat=",d", dtick=max(1, math.ceil(int(ordered["messages"].max()) / 6)), rangemode="tozero")
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


def quarantine_csv(samples: pd.DataFrame, header: dict[str, str], max_chars: int = SAMPLE_CHARS) -> bytes:
    """The quarantine samples shown, as CSV under components/csv_export's rules (times ISO-8601 with the Martinique
    offset, a header naming the view, text cells neutralised against formula injection). Payload and detail are
    the escaped text shown on the page (control characters as \\n, \\x00...), payload_chars the full length."""
    rows = pd.DataFrame(
        {
            "received_at": samples["received_at"],
            "source": [escape_payload(s, max_chars=64) for s in samples["source"]],
            "reason": [escape_payload(r, max_chars=64) for r in samples["reason"]],
            "detail": [escape_payload(d, max_chars=200) for d in samples["detail"]],
            "payload": [
                escape_payload(p, n, max_chars)
                for p, n in zip(samples["payload"], samples["payload_chars"], strict=True)
            ],
            "payload_chars": samples["payload_chars"].astype("int64"),
        }
    )
    return table_csv(rows, header=header)
