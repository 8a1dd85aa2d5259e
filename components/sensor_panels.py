"""Pieces of the Sensor page: durations as people read them, the battery chart with its fitted line, the alert
history table, the data-quality table (gaps, stuck values, share of warning / critical / fault readings)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components import charts, formatting
from components.formatting import fmt_int, fmt_number, fmt_time
from components.i18n import lang, t


def fmt_duration(seconds: float | None) -> str:
    """'2 j 3 h', '15 min 20 s' (two CLDR units at most, components.formatting) in the current language."""
    return formatting.fmt_duration(seconds, lang())


def fmt_pct(share: float | None, decimals: int = 1) -> str:
    return formatting.fmt_percent(share, lang(), decimals)


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3] if moment is not None and not pd.isna(moment) else "—"


def battery_figure(hourly: pd.DataFrame, forecast: dict, *, crit_low: float | None, now) -> go.Figure:
    """Hourly battery means, the fitted line over the points used, and its projection to 0 % (dotted)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=charts.local_naive(hourly["window_start"] + pd.Timedelta(minutes=30)),
            y=hourly["value"],
            mode="markers+lines",
            marker=dict(size=4),
            line=dict(width=1, color=charts.PALETTE[0]),
            name=t("sensor.battery.hourly"),
        )
    )
    fit = forecast.get("fit")
    if fit is not None and len(fit):
        fig.add_trace(
            go.Scatter(
                x=charts.local_naive(fit["time"]),
                y=fit["value"],
                mode="lines",
                line=dict(width=2, color=charts.PALETTE[1]),
                name=t("sensor.battery.fit"),
            )
        )
        if forecast.get("state") == "ok" and forecast.get("depletion_at") is not None:
            end = pd.Timestamp(forecast["depletion_at"])
            if end - pd.Timestamp(now) < pd.Timedelta(days=60):  # beyond, the axis would hide the measured part
                fig.add_trace(
                    go.Scatter(
                        x=charts.local_naive(pd.Series([fit["time"].iloc[-1], end])),
                        y=[fit["value"].iloc[-1], 0.0],
                        mode="lines",
                        line=dict(width=1.5, dash="dot", color=charts.PALETTE[1]),
                        name=t("sensor.battery.projection"),
                    )
                )
    if crit_low is not None:
        fig.add_hline(
            y=crit_low,
            line=dict(color=charts.SEVERITY_COLORS["critical"], width=1, dash="dash"),
            annotation_text=t("sensor.battery.critical_line"),
            annotation_position="top left",
        )
    fig.update_yaxes(title_text="%", rangemode="tozero")
    return charts.style(fig, height=300)


def alert_table(history: pd.DataFrame) -> pd.DataFrame:
    """The alert history as shown: local times, translated kind and severity, metric label with the unit, who
    resolved it and why, whether it fired under a silence, its assignee."""
    label_col = "label_fr" if lang() == "fr" else "label_en"

    def value(v, unit) -> str:
        return "—" if pd.isna(v) else f"{fmt_number(float(v), lang(), 1)} {unit or ''}".strip()

    def ack(row) -> str:
        if pd.isna(row["acknowledged_at"]):
            return ""
        text = f"✔ {row['acknowledged_by'] or ''} ({stamp(row['acknowledged_at'])})"
        return f"{text} — {row['ack_comment']}" if row.get("ack_comment") else text

    def closed(row) -> str:
        silenced = f" · {t('alerts.state.silenced')}" if row["silenced"] else ""
        if pd.isna(row["closed_at"]):
            return t("sensor.still_open") + silenced
        if isinstance(row["resolved_by"], str):
            by = t("sensor.resolved_by", by=row["resolved_by"], reason=row["resolution"] or "")
            return f"{stamp(row['closed_at'])} · {by}{silenced}"
        return stamp(row["closed_at"]) + silenced

    return pd.DataFrame(
        {
            t("sensor.col.alert"): history["alert_id"].astype("int64"),
            t("sensor.col.opened"): [stamp(v) for v in history["opened_at"]],
            t("sensor.col.last_seen"): [stamp(v) for v in history["last_seen_at"]],
            t("sensor.col.closed"): [closed(row) for _, row in history.iterrows()],
            t("sensor.col.metric"): [
                row[label_col] if pd.notna(row["metric"]) and pd.notna(row[label_col]) else "—"
                for _, row in history.iterrows()
            ],
            t("sensor.col.kind"): [t(f"alerts.kind.{k}") for k in history["kind"]],
            t("sensor.col.severity"): [t(f"severity.{s}") for s in history["severity"]],
            t("sensor.col.value"): [value(v, u) for v, u in zip(history["value"], history["unit"], strict=True)],
            t("sensor.col.threshold"): [
                value(v, u) for v, u in zip(history["threshold"], history["unit"], strict=True)
            ],
            t("sensor.col.message"): history["message"],
            t("sensor.col.ack"): [ack(row) for _, row in history.iterrows()],
            t("alerts.col.assignee"): history["assignee"].where(history["assignee"].notna(), ""),
        }
    )


def quality_table(
    metrics: list[str], labels: dict[str, str], summary: pd.DataFrame, shares: pd.DataFrame, stuck: pd.DataFrame
) -> pd.DataFrame:
    """One row per metric: readings, gaps (count, total, longest, coverage), stuck runs, shares by status."""
    summary = summary.set_index("metric")
    shares = shares.set_index("metric") if len(shares) else shares
    rows = []
    for metric in metrics:
        s = summary.loc[metric] if metric in summary.index else None
        sh = shares.loc[metric] if len(shares) and metric in shares.index else None
        runs = stuck[stuck["metric"] == metric] if len(stuck) else stuck
        rows.append(
            {
                t("sensor.col.metric"): labels.get(metric, metric),
                t("sensor.col.readings"): fmt_int(int(sh["readings"]), lang()) if sh is not None else "0",
                t("sensor.col.gaps"): (
                    t(
                        "sensor.gaps_cell",
                        n=fmt_int(int(s["gaps"]), lang()),
                        total=fmt_duration(s["gap_s"]),
                        longest=fmt_duration(s["longest_s"]),
                    )
                    if s is not None and s["gaps"]
                    else "0"
                ),
                t("sensor.col.coverage"): fmt_pct(s["coverage"]) if s is not None else "—",
                t("sensor.col.stuck"): (
                    t(
                        "sensor.stuck_cell" if len(runs) > 1 else "sensor.stuck_cell_one",
                        runs=len(runs),
                        readings=int(runs["readings"].sum()),
                    )
                    if len(runs)
                    else "—"
                ),
                # One column for the three shares: the table fits the page at 1280 px without a scroll bar.
                t("sensor.col.shares"): (
                    " / ".join(fmt_pct(sh[f"share_{level}"], 2) for level in ("warning", "critical", "fault"))
                    if sh is not None
                    else "—"
                ),
            }
        )
    return pd.DataFrame(rows)


def gaps_table(gaps: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    ordered = gaps.sort_values("duration_s", ascending=False)
    return pd.DataFrame(
        {
            t("sensor.col.metric"): [labels.get(m, m) for m in ordered["metric"]],
            t("sensor.col.start"): [fmt_time(v, lang(), with_date=True) for v in ordered["gap_start"]],
            t("sensor.col.end"): [fmt_time(v, lang(), with_date=True) for v in ordered["gap_end"]],
            t("sensor.col.duration"): [fmt_duration(v) for v in ordered["duration_s"]],
        }
    )


def stuck_table(stuck: pd.DataFrame, labels: dict[str, str], units: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("sensor.col.metric"): [labels.get(m, m) for m in stuck["metric"]],
            t("sensor.col.value"): [
                f"{fmt_number(float(v), lang(), 2)} {units.get(m, '')}".strip()
                for m, v in zip(stuck["metric"], stuck["value"], strict=True)
            ],
            t("sensor.col.readings"): [fmt_int(v, lang()) for v in stuck["readings"]],
            t("sensor.col.start"): [fmt_time(v, lang(), with_date=True) for v in stuck["run_start"]],
            t("sensor.col.end"): [fmt_time(v, lang(), with_date=True) for v in stuck["run_end"]],
            t("sensor.col.duration"): [fmt_duration(v) for v in stuck["duration_s"]],
        }
    )


def latest_table(latest: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("sensor.col.metric"): [labels.get(m, m) for m in latest["metric"]],
            t("sensor.col.value"): [
                f"{fmt_number(float(v), lang(), 2)} {u}".strip()
                for v, u in zip(latest["value"], latest["unit"], strict=True)
            ],
            t("sensor.latest.status"): [t(f"reading.{s}") if s else "—" for s in latest["status"]],
            t("sensor.latest.time"): [fmt_time(v, lang(), with_date=True) for v in latest["time"]],
            t("sensor.latest.age"): [fmt_duration(v) for v in latest["age_s"]],
        }
    )
