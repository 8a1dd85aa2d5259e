"""Plotly figures and small HTML pieces shared by the pages. Times are drawn in Martinique local time with dated axes
and tooltips in the language's CLDR formats (components.formatting), numbers with its separators and rounded in
tooltips. Every trace gets at most MAX_POINTS points: the data_access layer buckets series before they get here, and
`cap_points` downsamples what is still longer with MinMaxLTTB (tsdownsample), which keeps the peaks."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsdownsample import MinMaxLTTBDownsampler

from components.formatting import auto_decimals, d3_date, fmt_duration, fmt_number, plotly_separators, to_local
from components.i18n import lang, t
from components.names import display_name, short_place
from components.text import plotly_text
from data_access.queries import MAX_POINTS

STATUS_COLORS = {"online": "#1e8e3e", "stale": "#e8a317", "offline": "#c5221f"}
SEVERITY_COLORS = {"critical": "#c5221f", "warning": "#e8a317", "info": "#1a73e8"}
# Markdown icons (labels of st.metric, st.markdown): coloured Material symbols, which need no emoji font.
SEVERITY_ICONS = {
    "critical": ":red[:material/error:]",
    "warning": ":orange[:material/warning:]",
    "info": ":blue[:material/info:]",
}
SEVERITY_BACKGROUNDS = {"critical": "#fce8e6", "warning": "#fef3e0", "info": "#e8f0fe"}
PALETTE = (
    "#1a73e8", "#e8710a", "#1e8e3e", "#d93025", "#9334e6", "#12b5cb", "#f538a0", "#7cb342", "#795548", "#5f6368",
    "#fbbc04", "#3949ab",
)  # fmt: skip


def local_naive(times: pd.Series) -> pd.Series:
    """UTC times -> naive Martinique times (what Plotly should draw on its axis)."""
    return to_local(times).dt.tz_localize(None)


def cap_points(frame: pd.DataFrame, max_points: int = MAX_POINTS, y: str | None = None) -> pd.DataFrame:
    """At most max_points rows of a time-sorted frame, chosen by MinMaxLTTB on column `y` (default "value", else the
    first numeric column): the minimum and maximum of every stretch survive, so a single spike is never dropped."""
    if len(frame) <= max_points:
        return frame
    column = y or ("value" if "value" in frame else frame.select_dtypes("number").columns[0])
    values = frame[column].to_numpy(dtype=float)
    x = np.arange(len(frame), dtype=np.int64)  # rows are time-sorted: their order is the x order
    finite = np.isfinite(values)
    if not finite.all():  # the downsampler needs numbers: keep the rows without one aside
        values = np.where(finite, values, np.nanmean(values) if finite.any() else 0.0)
    keep = MinMaxLTTBDownsampler().downsample(x, values, n_out=max_points)
    return frame.iloc[np.sort(keep.astype(np.int64))]


def value_decimals(values) -> int:
    """Decimals for a tooltip value: about three significant digits of the series' typical size."""
    present = pd.Series(values, dtype=float).abs().replace(0, np.nan).dropna()
    return auto_decimals(float(present.median())) if len(present) else 1


def time_ticks(language: str) -> list[dict]:
    """Tick labels by zoom level, in the language's CLDR formats. Below a day the date follows on a second line,
    which Plotly shows only on the first tick and where the day changes: a 7-day axis reads "00:00 / 22 nov."."""
    day, full_day = d3_date("MMMd", language), d3_date("yMMMd", language)
    return [
        dict(dtickrange=[None, 60_000], value=f"{d3_date('Hms', language)}\n{full_day}"),
        dict(dtickrange=[60_000, 86_400_000], value=f"{d3_date('Hm', language)}\n{full_day}"),
        dict(dtickrange=[86_400_000, "M1"], value=f"{day}\n{d3_date('y', language)}"),
        dict(dtickrange=["M1", None], value=d3_date("yMMM", language)),
    ]


def hover_time(language: str) -> str:
    """The date and time at the top of a tooltip: "22 nov. 2026 14:05:30"."""
    return f"{d3_date('yMMMd', language)} {d3_date('Hms', language)}"


def value_hover(values, unit: str = "") -> str:
    """Hover template of a value trace: the rounded, localised value and its unit, the trace's name beside it
    (taken by Plotly from the trace, never parsed as a template)."""
    suffix = f" {plotly_text(unit)}" if unit else ""
    return f"%{{y:,.{value_decimals(values)}f}}{suffix}<extra>%{{fullData.name}}</extra>"


def legend_entry_px(fig: go.Figure) -> int:
    """Width of one legend entry: room for the longest name, so that Plotly lays the entries out in a grid of as
    many columns as the chart's width holds."""
    longest = max((len(trace.name or "") for trace in fig.data if trace.showlegend is not False), default=10)
    return 7 * longest + 50


def style(fig: go.Figure, *, height: int = 340, legend: bool = True, time_axis: bool = True) -> go.Figure:
    language = lang()
    if time_axis:
        fig.update_xaxes(tickformatstops=time_ticks(language), hoverformat=hover_time(language))
    fig.update_layout(
        separators=plotly_separators(language),
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        # Below everything, in columns: anchored to the figure's bottom edge, the legend pushes the plot up instead of
        # covering the (two-line, dated) tick labels; equal columns keep long names in a grid.
        legend=dict(
            orientation="h",
            yref="container",
            y=0,
            yanchor="bottom",
            x=0,
            entrywidth=legend_entry_px(fig),
            entrywidthmode="pixels",
        )
        if legend
        else None,
        showlegend=legend,
        hovermode="x unified",
        selectdirection="h",  # a box drawn on a time chart selects a time range, whatever its height
    )
    return fig


def lines(
    frame: pd.DataFrame,
    *,
    group: str,
    y_label: str,
    names: dict[str, str] | None = None,
    height: int = 340,
    unit: str = "",
) -> go.Figure:
    """One line per `group` value (columns time, value, group)."""
    names = names or {}
    fig = go.Figure()
    hover = value_hover(frame["value"], unit)
    for i, (key, part) in enumerate(frame.groupby(group, sort=True)):
        part = cap_points(part.sort_values("time"))
        fig.add_trace(
            go.Scatter(
                x=local_naive(part["time"]),
                y=part["value"],
                mode="lines",
                name=plotly_text(names.get(key, str(key))),
                line=dict(width=1.6, color=PALETTE[i % len(PALETTE)]),
                hovertemplate=hover,
            )
        )
    fig.update_yaxes(title_text=y_label)
    return style(fig, height=height)


def small_multiples(
    frame: pd.DataFrame,
    *,
    facet: str,
    titles: dict[str, str],
    columns: int = 3,
    band: bool = False,
    row_height: int = 200,
    order=None,
    units: dict[str, str] | None = None,
) -> go.Figure:
    """One small chart per `facet` value (columns time, value[, min, max]), in `order` when given; each keeps its
    own y axis. With band=True the min-max range of the bucket is drawn as a shaded band around the mean."""
    units = units or {}
    present = set(frame[facet])
    keys = [k for k in order if k in present] if order is not None else list(dict.fromkeys(frame[facet]))
    columns = max(1, min(columns, len(keys)))
    rows = math.ceil(len(keys) / columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        shared_xaxes=True,
        subplot_titles=[plotly_text(titles.get(k, str(k))) for k in keys],
        vertical_spacing=min(0.12, 0.5 / max(rows, 1)),
        horizontal_spacing=0.06,
    )
    for i, key in enumerate(keys):
        part = cap_points(frame[frame[facet] == key].sort_values("time"))
        r, c = i // columns + 1, i % columns + 1
        x = local_naive(part["time"])
        color = PALETTE[i % len(PALETTE)]
        if band and {"min", "max"} <= set(part.columns):
            fig.add_trace(
                go.Scatter(x=x, y=part["max"], mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False),
                row=r,
                col=c,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part["min"],
                    mode="lines",
                    line=dict(width=0),
                    fill="tonexty",
                    fillcolor="rgba(26,115,232,0.15)",
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=r,
                col=c,
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["value"],
                mode="lines",
                name=plotly_text(titles.get(key, str(key))),
                line=dict(color=color),
                hovertemplate=value_hover(part["value"], units.get(key, "")),
            ),
            row=r,
            col=c,
        )
    fig.update_annotations(font_size=12)
    return style(fig, height=max(220, rows * row_height), legend=False)


def period_overlay(current: pd.DataFrame, previous: pd.DataFrame, *, shift, y_label: str) -> go.Figure:
    """This period's mean series and the previous period's, shifted forward by `shift` to line up (the tooltip
    dates are this period's)."""
    fig = go.Figure()
    hover = value_hover(current["value"], y_label)
    for frame, name, dash, color in (
        (previous.assign(time=previous["time"] + shift), t("trends.previous_period"), "dot", "#5f6368"),
        (current, t("trends.this_period"), "solid", "#1a73e8"),
    ):
        frame = cap_points(frame.sort_values("time"))
        fig.add_trace(
            go.Scatter(
                x=local_naive(frame["time"]),
                y=frame["value"],
                mode="lines",
                name=name,
                line=dict(dash=dash, color=color, width=2),
                hovertemplate=hover,
            )
        )
    fig.update_yaxes(title_text=y_label)
    return style(fig, height=320)


def count_axis(top: float) -> dict:
    """Axis settings for counts: whole numbers only (never 0,5 steps), one per unit when the counts are small."""
    return dict(tickformat=",d", rangemode="tozero", **({"dtick": 1, "tick0": 0} if top <= 8 else {}))


def severity_bars(
    frame: pd.DataFrame,
    *,
    title: str,
    labels: dict[str, str] | None = None,
    keys=None,
    height: int | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """Stacked bars of alert counts (columns key, severity, alerts) by severity, one bar per key (all `keys` when
    given, e.g. the 24 hours of the day, even those without alerts). Horizontal bars keep long category names (towns)
    whole: one row each, the chart as tall as they need."""
    labels = labels or {}
    fig = go.Figure()
    keys = list(keys) if keys is not None else list(dict.fromkeys(frame["key"]))
    if horizontal:
        keys = keys[::-1]  # the first key on top
    names = [plotly_text(labels.get(k, k)) for k in keys]
    for severity in ("critical", "warning", "info"):
        part = frame[frame["severity"] == severity].set_index("key").reindex(keys)
        counts = part["alerts"].fillna(0)
        fig.add_trace(
            go.Bar(
                x=counts if horizontal else names,
                y=names if horizontal else counts,
                orientation="h" if horizontal else "v",
                name=t(f"severity.{severity}"),
                marker_color=SEVERITY_COLORS[severity],
                hovertemplate="%{" + ("x" if horizontal else "y") + ":,d}<extra>%{fullData.name}</extra>",
            )
        )
    top = float(frame.groupby("key")["alerts"].sum().max()) if len(frame) else 0.0
    category, count = (fig.update_yaxes, fig.update_xaxes) if horizontal else (fig.update_xaxes, fig.update_yaxes)
    category(type="category", automargin=True, **({} if horizontal else {"tickangle": 0 if len(keys) <= 6 else None}))
    count(title_text=t("trends.alert_count"), **count_axis(top))
    fig = style(fig, height=height or (max(240, 90 + 24 * len(keys)) if horizontal else 320), time_axis=False)
    fig.update_layout(
        barmode="stack", bargap=0.15, hovermode="closest", title=dict(text=title, font_size=14, x=0, y=0.98)
    )
    return fig


def correlation_heatmap(matrix: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    names = [plotly_text(labels.get(m, m)) for m in matrix.columns]
    text = [[fmt_number(v, lang(), 2) for v in row] for row in matrix.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=names,
            y=names,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y} × %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig = style(fig, height=max(300, 70 * len(names) + 80), legend=False, time_axis=False)
    fig.update_layout(hovermode="closest")
    return fig


def status_tiles(status: pd.DataFrame, *, names: dict[str, str] | None = None) -> str:
    """HTML grid of coloured tiles, one per sensor (columns sensor_id, name, kind, commune, status, age_s), labelled
    with `names` (default: the place part of the name, without the town shown under it). Every text from the
    database is escaped."""
    names = names or {}
    tiles = []
    for row in status.itertuples(index=False):
        color = STATUS_COLORS.get(row.status, "#5f6368")
        age = "—" if pd.isna(row.age_s) else t("age.ago", d=fmt_duration(float(row.age_s), lang(), units=1))
        label = html.escape(names.get(row.sensor_id) or short_place(row.name, row.commune, row.sensor_id))
        title = html.escape(
            f"{display_name(row.name, row.kind, row.sensor_id)} — {row.commune} — {t(f'status.{row.status}')} — {age}"
        )
        tiles.append(
            f'<div class="mm-tile" data-status="{html.escape(row.status)}" title="{title}" '
            f'style="background:{color}">'
            f'<div class="mm-name">{label}</div>'
            f'<div class="mm-meta">{html.escape(row.commune)} · {html.escape(age)}</div></div>'
        )
    legend = " ".join(
        f'<span class="mm-key"><span class="mm-dot" style="background:{c}"></span>{html.escape(t(f"status.{s}"))}'
        f"</span>"
        for s, c in STATUS_COLORS.items()
    )
    return (
        "<style>"
        ".mm-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px;"
        "font-family:sans-serif}"
        ".mm-tile{border-radius:6px;padding:6px 8px;color:#fff;min-height:46px;overflow:hidden}"
        ".mm-name{font-size:12px;font-weight:600;line-height:1.2;white-space:nowrap;overflow:hidden;"
        "text-overflow:ellipsis}"
        ".mm-meta{font-size:11px;opacity:.92;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
        ".mm-legend{font-size:12px;margin:0 0 6px 0;font-family:sans-serif}"
        ".mm-key{margin-right:14px}.mm-dot{display:inline-block;width:10px;height:10px;border-radius:2px;"
        "margin-right:4px;vertical-align:middle}"
        "</style>"
        f'<div class="mm-legend">{legend}</div><div class="mm-grid">{"".join(tiles)}</div>'
    )
