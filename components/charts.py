"""Plotly figures and small HTML pieces shared by the pages. Times are drawn in Martinique local time, numbers with
the separators of the current language. Every trace gets at most MAX_POINTS points (the data_access layer buckets
series before they get here; `cap_points` is the last guard)."""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from components.formatting import fmt_number, plotly_separators, to_local
from components.i18n import lang, t
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


def cap_points(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Keep at most max_points rows by taking every k-th row (a guard: series arrive already bucketed)."""
    if len(frame) <= max_points:
        return frame
    step = math.ceil(len(frame) / max_points)
    return frame.iloc[::step]


# Tick labels that read the same in French and English (no month names): hours within a day, then day/month.
TIME_TICKS = [
    dict(dtickrange=[None, 60_000], value="%H:%M:%S"),
    dict(dtickrange=[60_000, 86_400_000], value="%H:%M"),
    dict(dtickrange=[86_400_000, None], value="%d/%m"),
]


def style(fig: go.Figure, *, height: int = 340, legend: bool = True, time_axis: bool = True) -> go.Figure:
    if time_axis:
        fig.update_xaxes(tickformatstops=TIME_TICKS)
    fig.update_layout(
        separators=plotly_separators(lang()),
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0) if legend else None,
        showlegend=legend,
        hovermode="x unified",
    )
    return fig


def lines(
    frame: pd.DataFrame, *, group: str, y_label: str, names: dict[str, str] | None = None, height: int = 340
) -> go.Figure:
    """One line per `group` value (columns time, value, group)."""
    names = names or {}
    fig = go.Figure()
    for i, (key, part) in enumerate(frame.groupby(group, sort=True)):
        part = cap_points(part.sort_values("time"))
        fig.add_trace(
            go.Scatter(
                x=local_naive(part["time"]),
                y=part["value"],
                mode="lines",
                name=plotly_text(names.get(key, str(key))),
                line=dict(width=1.6, color=PALETTE[i % len(PALETTE)]),
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
) -> go.Figure:
    """One small chart per `facet` value (columns time, value[, min, max]), in `order` when given; each keeps its
    own y axis. With band=True the min-max range of the bucket is drawn as a shaded band around the mean."""
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
                x=x, y=part["value"], mode="lines", name=plotly_text(titles.get(key, str(key))), line=dict(color=color)
            ),
            row=r,
            col=c,
        )
    fig.update_annotations(font_size=12)
    return style(fig, height=max(220, rows * row_height), legend=False)


def period_overlay(current: pd.DataFrame, previous: pd.DataFrame, *, shift, y_label: str) -> go.Figure:
    """This period's mean series and the previous period's, shifted forward by `shift` to line up."""
    fig = go.Figure()
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
            )
        )
    fig.update_yaxes(title_text=y_label)
    return style(fig, height=320)


def severity_bars(
    frame: pd.DataFrame, *, title: str, labels: dict[str, str] | None = None, keys=None, height: int = 320
) -> go.Figure:
    """Stacked bars of alert counts (columns key, severity, alerts) by severity, one bar per key (all `keys` when
    given, e.g. the 24 hours of the day, even those without alerts)."""
    labels = labels or {}
    fig = go.Figure()
    keys = list(keys) if keys is not None else list(dict.fromkeys(frame["key"]))
    for severity in ("critical", "warning", "info"):
        part = frame[frame["severity"] == severity].set_index("key").reindex(keys)
        fig.add_trace(
            go.Bar(
                x=[plotly_text(labels.get(k, k)) for k in keys],
                y=part["alerts"].fillna(0),
                name=t(f"severity.{severity}"),
                marker_color=SEVERITY_COLORS[severity],
            )
        )
    fig.update_xaxes(type="category", tickangle=0 if len(keys) <= 6 else None, automargin=True)
    fig.update_yaxes(title_text=t("trends.alert_count"), rangemode="tozero")
    fig = style(fig, height=height, time_axis=False)
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
    """HTML grid of coloured tiles, one per sensor (columns sensor_id, name, commune, status, age_s). Every text
    from the database is escaped."""
    names = names or {}
    tiles = []
    for row in status.itertuples(index=False):
        color = STATUS_COLORS.get(row.status, "#5f6368")
        age = "—" if pd.isna(row.age_s) else _age(float(row.age_s))
        label = html.escape(names.get(row.sensor_id, row.name))
        title = html.escape(f"{row.name} — {row.commune} — {t(f'status.{row.status}')} — {age}")
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


def _age(seconds: float) -> str:
    if seconds < 90:
        return t("age.s", n=int(round(seconds)))
    if seconds < 5400:
        return t("age.min", n=int(round(seconds / 60)))
    if seconds < 172800:
        return t("age.h", n=int(round(seconds / 3600)))
    return t("age.d", n=int(round(seconds / 86400)))
