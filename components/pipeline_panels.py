"""Pieces of the Pipeline page: per-stage latency table and chart, throughput charts from every processor,
freshness of every sensor as a status strip and table (worst first, coloured from one state scale), quarantine
tables and their CSV in components/quarantine_panels.py."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from babel.dates import format_datetime

from components import charts, formatting
from components.formatting import TZ, fmt_number, fmt_time, locale
from components.i18n import lang, t
from components.sensor_panels import fmt_duration
from components.text import plotly_text
from data_access.pipeline import RECEIVED_UNIT, STAGES


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


def fmt_ms(value: float) -> str:
    """A latency with its unit: '0,5 ms', '20 ms', '1,5 s', '2 min' (components.formatting, CLDR units)."""
    return formatting.fmt_milliseconds(value, lang())


DECADES_MS = tuple(10.0**e for e in range(-1, 7))


def latency_figure(stats: pd.DataFrame) -> go.Figure:
    """Horizontal grouped bars per stage: p50, p95, p99 on a log axis (stages differ by orders of magnitude) whose
    ticks are the decades only, labelled with their unit ('1 ms', '10 ms', '1 s'): never more than ~7 labels."""
    measured = stats[stats["samples"] > 0].iloc[::-1]  # first stage on top
    fig = go.Figure()
    for i, (column, name) in enumerate((("p99_ms", "p99"), ("p95_ms", "p95"), ("p50_ms", "p50"))):
        fig.add_trace(
            go.Bar(
                y=[t(f"stage.{s}") for s in measured["stage"]],
                x=measured[column].clip(lower=0.1),
                name=name,
                orientation="h",
                marker_color=charts.PALETTE[2 - i],
                text=[fmt_ms(v) if pd.notna(v) else "—" for v in measured[column]],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{name} %{{text}}<extra>%{{y}}</extra>",
            )
        )
    values = [v for v in measured[["p50_ms", "p99_ms"]].to_numpy().ravel() if pd.notna(v) and v > 0] or [1.0]
    lo, hi = max(min(values), 0.1), max(values)
    ticks = [d for d in DECADES_MS if lo / 10 < d <= hi * 10]
    fig.update_xaxes(
        type="log",
        title_text=t("pipeline.latency_axis"),
        tickmode="array",
        tickvals=ticks,
        ticktext=[fmt_ms(d) for d in ticks],
        range=[math.log10(ticks[0]), math.log10(hi) + 0.35],  # room for the outside labels
    )
    charts.style(fig, height=120 + 75 * len(measured), time_axis=False)
    fig.update_layout(
        barmode="group",
        hovermode="closest",
        margin=dict(l=10, r=20, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, traceorder="reversed"),
    )
    return fig


def latency_over_time(series: pd.DataFrame, *, start: datetime, end: datetime, step_s: int) -> go.Figure:
    """p95 of each stage per bucket, on the same decade-ticked log axis as the bars (hover: p50 / p95 / p99 and the
    number of batches); a bucket without batches leaves a gap, not a line across it."""
    fig = go.Figure()
    grid = pd.date_range(
        pd.Timestamp(start).floor(f"{step_s}s"), pd.Timestamp(end), freq=f"{step_s}s", inclusive="left"
    )
    times = charts.local_naive(pd.Series(grid))
    for i, stage in enumerate(s for s in STAGES if s in set(series["stage"])):
        part = series[series["stage"] == stage].set_index("time").reindex(grid)
        fig.add_trace(
            go.Scatter(
                x=times,
                y=part["p95_ms"],
                name=t(f"stage.{stage}"),
                mode="lines+markers",
                marker=dict(size=3),
                line=dict(width=1.5, color=charts.PALETTE[i]),
                customdata=[
                    [fmt_ms(a), fmt_ms(b), fmt_ms(c), t("pipeline.latency.batches", n=int(n))]
                    if pd.notna(n)
                    else ["—"] * 4
                    for a, b, c, n in zip(part["p50_ms"], part["p95_ms"], part["p99_ms"], part["samples"], strict=True)
                ],
                # customdata: p50, p95, p99 (with units) and the number of batches of the bucket
                hovertemplate="p50 %{customdata[0]} · p95 %{customdata[1]} · p99 %{customdata[2]} · %{customdata[3]}"
                "<extra>%{fullData.name}</extra>",
            )
        )
    values = [v for v in series["p95_ms"] if pd.notna(v) and v > 0] or [1.0]
    # The decades around the values, and the axis spanning exactly them: always two labelled ticks at least.
    lo, hi = math.floor(math.log10(max(min(values), 0.1))), math.ceil(math.log10(max(values)))
    ticks = [10.0**e for e in range(lo, max(hi, lo + 1) + 1)]
    fig.update_yaxes(
        type="log", title_text=t("pipeline.latency.p95_axis", step=fmt_duration(step_s)), tickmode="array",
        tickvals=ticks, ticktext=[fmt_ms(d) for d in ticks], range=[math.log10(ticks[0]), math.log10(ticks[-1])],
    )  # fmt: skip
    charts.style(fig, height=320, time_axis=False)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(t=40))
    return time_axis(fig, start, end)


# Time axes: ticks placed and labelled here, dates through Babel in the page's language (components/charts.py is
# getting a shared dated-axis helper; `time_axis` is the one function to switch to it).
AXIS_STEPS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600) + tuple(
    d * 86400 for d in (1, 2, 7, 14, 28, 91, 182, 364)
)


def time_axis(fig: go.Figure, start: datetime, end: datetime, *, max_ticks: int = 8) -> go.Figure:
    """Martinique-time ticks over [start, end): times of day within a day; when the range spans days, the date
    under the first tick of each day ("2 déc." / "2 Dec"), or the date alone for day steps; the date is in every
    tooltip too."""
    span = max((end - start).total_seconds(), 60.0)
    step = next((s for s in AXIS_STEPS_S if span / s <= max_ticks), None)
    step = step or AXIS_STEPS_S[-1] * math.ceil(span / AXIS_STEPS_S[-1] / max_ticks)
    lo, hi = (pd.Timestamp(m).tz_convert(TZ).tz_localize(None) for m in (start, end))
    first = lo.ceil(f"{step}s")
    ticks = list(pd.date_range(first, hi, freq=f"{step}s"))
    days = len({tick.date() for tick in ticks}) > 1 or lo.date() != hi.date()
    labels, seen = [], set()
    for tick in (t_.to_pydatetime() for t_ in ticks):
        if step >= 28 * 86400:  # months apart: the year matters, the weekday does not
            labels.append(format_datetime(tick, "d MMM y", locale=locale(lang())))
        elif step >= 86400:
            labels.append(format_datetime(tick, "EEE d MMM", locale=locale(lang())))
        elif days and tick.date() not in seen:
            labels.append(format_datetime(tick, "HH:mm'<br>'d MMM", locale=locale(lang())))
        else:
            labels.append(format_datetime(tick, "HH:mm", locale=locale(lang())))
        seen.add(tick.date())
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=labels, range=[lo, hi], hoverformat="%d/%m/%Y %H:%M")
    return fig


def series_label(processor: str, source: str) -> str:
    """'Lite · MQTT (consume)', 'Backfill', 'Spark'...; an unknown processor as its own (escaped) names."""
    key = f"pipeline.series.{processor}.{source}" if processor == "lite" else f"pipeline.series.{processor}"
    label = t(key)
    return label if label != key else plotly_text(f"{processor} · {source}", 60)


def rates(flow: pd.DataFrame, column: str, *, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
    """One column per series (series_label), one row per bucket of [start, end), per-second rate of `column`,
    zero where a series committed nothing (an idle processor draws 0, not a line across the gap)."""
    grid = pd.date_range(
        pd.Timestamp(start).floor(f"{step_s}s"), pd.Timestamp(end), freq=f"{step_s}s", inclusive="left"
    )
    labelled = flow.assign(series=[series_label(p, s) for p, s in zip(flow["processor"], flow["source"], strict=True)])
    wide = labelled.pivot_table(index="time", columns="series", values=column, aggfunc="sum")
    return (wide.reindex(grid).fillna(0.0) / step_s).rename_axis("time")


def rate_figure(wide: pd.DataFrame, *, unit: str, start: datetime, end: datetime, y_label: str) -> go.Figure:
    """One line per series (not stacked: a burst of one processor must keep its own colour), per-second rates
    averaged over each bucket; the busiest series first in the legend, which sits above the plot so that the date
    line of the axis stays readable."""
    fig = go.Figure()
    times = charts.local_naive(pd.Series(wide.index))
    for i, name in enumerate(wide.sum().sort_values(ascending=False, kind="stable").index):
        fig.add_trace(
            go.Scatter(
                x=times,
                y=wide[name],
                name=name,
                mode="lines",
                line=dict(width=1.5, color=charts.PALETTE[i % len(charts.PALETTE)], shape="hv"),
                hovertemplate=f"%{{y:,.1f}} {unit}<extra>{name}</extra>",
            )
        )
    fig.update_yaxes(title_text=y_label, rangemode="tozero")
    charts.style(fig, height=320, time_axis=False)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(t=40))
    return time_axis(fig, start, end)


def throughput_figures(flow: pd.DataFrame, *, start: datetime, end: datetime, step_s: int) -> list[go.Figure]:
    """Readings stored per second by every processor; then messages received per second by the consumers that
    count messages (the lite ones: one message may carry several readings), when there are any."""
    step = fmt_duration(step_s)
    counted = flow[flow["processor"].map(RECEIVED_UNIT).eq("messages")]
    panels = [(flow, "readings", "pipeline.unit.readings", "pipeline.readings_axis")]
    if not counted.empty:
        panels.append((counted, "received", "pipeline.unit.messages", "pipeline.messages_axis"))
    return [
        rate_figure(
            rates(frame, column, start=start, end=end, step_s=step_s),
            unit=t(unit),
            start=start,
            end=end,
            y_label=t(axis, step=step),
        )
        for frame, column, unit, axis in panels
    ]


# Freshness: one colour scale for the strip, its legend and the table (worst first).
STATE_ORDER = ("never", "offline", "stale", "online")
STATE_COLORS = {"never": "#5f6368", **charts.STATUS_COLORS}


def state_label(state: str) -> str:
    return t("pipeline.state.never") if state == "never" else t(f"status.{state}")


def freshness_strip(fresh: pd.DataFrame, names: dict[str, str], *, per_row: int = 30) -> go.Figure:
    """One cell per sensor, worst first (reading order), coloured by state; the legend is drawn from the same
    STATE_COLORS with each state's count. Hover: sensor, state, age against the expected interval."""
    n = len(fresh)
    rows = max(1, math.ceil(n / per_row))
    z = [[None] * per_row for _ in range(rows)]
    text = [[""] * per_row for _ in range(rows)]
    for k, row in enumerate(fresh.itertuples(index=False)):
        r, c = divmod(k, per_row)
        z[r][c] = STATE_ORDER.index(row.state)
        sensor = plotly_text(f"{names.get(row.sensor_id, row.sensor_id)} ({row.sensor_id})", 120)
        text[r][c] = (
            sensor
            + "<br>"
            + t(
                "pipeline.freshness.tip",
                state=state_label(row.state),
                age=fmt_duration(row.age_s) if pd.notna(row.age_s) else "—",
                interval=fmt_duration(row.expected_interval_s),
            )
        )
    k = len(STATE_ORDER)
    scale = [[edge, STATE_COLORS[s]] for i, s in enumerate(STATE_ORDER) for edge in (i / k, (i + 1) / k)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            hoverinfo="text",
            colorscale=scale,
            zmin=-0.5,
            zmax=k - 0.5,
            showscale=False,
            xgap=3,
            ygap=3,
        )
    )
    counts = fresh["state"].value_counts()
    for state in STATE_ORDER:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(symbol="square", size=12, color=STATE_COLORS[state]),
                name=f"{state_label(state)} ({int(counts.get(state, 0))})",
            )
        )
    fig.update_xaxes(visible=False, range=[-0.5, per_row - 0.5])
    fig.update_yaxes(visible=False, autorange="reversed")
    charts.style(fig, height=70 + 30 * rows, time_axis=False)
    fig.update_layout(
        hovermode="closest",
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def freshness_table(fresh: pd.DataFrame, names: dict[str, str]):
    """The same sensors in the same order, the state cell coloured from STATE_COLORS (a pandas Styler)."""
    state_col = t("col.status")
    frame = pd.DataFrame(
        {
            state_col: [state_label(s) for s in fresh["state"]],
            t("pipeline.col.sensor"): [f"{names.get(s, s)} ({s})" for s in fresh["sensor_id"]],  # names carry the town
            t("pipeline.col.age"): [fmt_duration(v) if pd.notna(v) else "—" for v in fresh["age_s"]],
            t("pipeline.col.interval"): [fmt_duration(v) for v in fresh["expected_interval_s"]],
            t("pipeline.col.lateness"): [
                "—" if pd.isna(v) else t("pipeline.times", n=fmt_number(v, lang(), 1)) for v in fresh["lateness"]
            ],
            t("pipeline.col.last_reading"): [fmt_time(v, lang(), with_date=True) for v in fresh["last_time"]],
        }
    )
    colours = {state_label(s): c for s, c in STATE_COLORS.items()}
    return frame.style.map(lambda v: f"background-color: {colours.get(v, '')}; color: white", subset=[state_col])
