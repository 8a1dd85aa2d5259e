"""Pieces of the Map page: the page's own controls (mirrored in the URL), the sensors' colours, sizes, rings and
tooltips for the moment shown, the KPI cards, the legend (from the same scale as the layers), the network mean per
replay frame and the sensor table. Plain functions; the page script calls them in order."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import charts, inputs, plot
from components import map_layers as ml
from components import map_legend as mg
from components.formatting import fmt_compact, fmt_int, fmt_number, fmt_time
from components.i18n import lang, t
from components.names import display_name
from components.sidebar import lang_key
from data_access import live

COLOR_MODES = ("status", "metric")


def stamp(moment) -> str:
    return fmt_time(moment, lang(), with_date=True)[:-3]  # to the minute


def fmt_value(value, unit: str = "", decimals: int = 1) -> str:
    if value is None or pd.isna(value):
        return t("map.no_value")
    return f"{fmt_number(float(value), lang(), decimals)} {unit}".strip()


def init_controls() -> None:
    """Colour mode, layer and town names: plain session keys read from the URL once (the widgets of draw_controls
    start from them and write them back to the URL when they differ from the defaults)."""
    ss = st.session_state
    if "map_color" not in ss:
        ss["map_color"] = inputs.param_choice("mcolor", COLOR_MODES, "status")
    if "map_layer" not in ss:
        ss["map_layer"] = inputs.param_choice("mlayer", ml.LAYER_MODES, "points")
    if "map_labels" not in ss:
        ss["map_labels"] = inputs.param_choice("mlabels", ("0", "1"), "1") != "0"


def draw_controls(metric: str | None) -> tuple[str, str, bool]:
    ss = st.session_state
    c1, c2, c3 = st.columns([2, 3, 2], vertical_alignment="bottom")
    for column, name, modes, state in (
        (c1, "color", COLOR_MODES, "map_color"),
        (c2, "layer", ml.LAYER_MODES, "map_layer"),
    ):
        ss[state] = (
            column.segmented_control(
                t(f"map.{name}"),
                modes,
                default=ss[state] if metric else modes[0],
                format_func=lambda m, name=name: t(f"map.{name}.{m}"),
                key=lang_key(f"{state}_w"),
                required=True,
                disabled=metric is None,
            )
            or modes[0]
        )
    ss["map_labels"] = c3.toggle(t("map.labels"), value=ss["map_labels"], key=lang_key("map_labels_w"))
    for name, value, default in (
        ("mcolor", ss["map_color"], "status"),
        ("mlayer", ss["map_layer"], "points"),
        ("mlabels", "1" if ss["map_labels"] else "0", "1"),
    ):
        if value == default:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value
    return (ss["map_color"] if metric else "status"), (ss["map_layer"] if metric else "points"), ss["map_labels"]


def at_frame(points: pd.DataFrame, frames: pd.DataFrame, moment) -> pd.DataFrame:
    """The sensors with the values of one replay frame (state reported / silent) instead of their latest ones."""
    shown = frames[frames["frame"] == pd.Timestamp(moment)].set_index("sensor_id")
    points = points.drop(columns=["value", "value_time", "value_status"])
    points = points.join(shown[["value", "min", "max", "count", "n_warning", "n_critical"]], on="sensor_id")
    points["count"] = points["count"].fillna(0).astype("int64")
    points["state"] = points["count"].map(lambda n: "reported" if n > 0 else "silent")
    return points


def decorate(points, *, metric_row: dict, metric_name: str, unit: str, color_mode, layer_mode, moment, plan):
    """Colour, radius, ring and tooltip of every sensor; returns the value scale (None when coloured by status)."""
    metric = bool(metric_row)
    values = points["value"] if metric else pd.Series(float("nan"), index=points.index)
    scale = None
    if color_mode == "metric" or layer_mode != "points":
        scale = mg.value_scale(values, metric_row, binned=layer_mode != "points")
    if color_mode == "metric":
        points["color"] = mg.value_colors(values, scale)
    else:
        palette = {"reported": mg.RGB["online"], "silent": mg.GREY[:3], **{s: mg.RGB[s] for s in live.STATUSES}}
        points["color"] = [[*palette[s], 235] for s in points["state"]]
    points["radius"] = mg.radii(values) if metric else [mg.RADIUS_FIXED_M] * len(points)

    def ring(row) -> list[int]:
        level = row.get("value_status")
        if moment != "now":
            level = "critical" if row.get("n_critical", 0) > 0 else "warning" if row.get("n_warning", 0) > 0 else None
        return [*mg.RGB[level], 255] if level in ("warning", "critical") else ml.WHITE

    sep = " : " if lang() == "fr" else ": "

    def tip(row) -> str:
        state = t(f"map.status.{row['state']}") if moment != "now" else t(f"status.{row['status']}")
        lines = [
            (t("map.tip.id"), row["sensor_id"]),
            (t("map.tip.commune"), row["commune"]),
            (t("map.tip.kind"), t(f"kind.{row['kind']}")),
            (t("map.tip.status"), state),
        ]
        if metric:
            lines.append((metric_name, fmt_value(row["value"], unit)))
        if moment == "now":
            lines.append((t("map.tip.last"), fmt_time(row["last_time"], lang(), with_date=True)))
        else:
            end = pd.Timestamp(moment) + pd.Timedelta(seconds=plan.step_s)
            lines.append((t("map.tip.frame"), f"{stamp(moment)} → {fmt_time(end, lang())[:-3]}"))
            if row.get("count", 0):
                lines.append((t("map.tip.range"), f"{fmt_value(row['min'], '')} – {fmt_value(row['max'], unit)}"))
                lines.append((t("map.tip.count"), fmt_int(row["count"], lang())))
        return ml.tooltip_html(display_name(row["name"], row["kind"], row["sensor_id"]), lines, sep)

    points["line"] = [ring(row) for _, row in points.iterrows()]
    points["tip"] = [tip(row) for _, row in points.iterrows()]
    return scale


def kpis(points: pd.DataFrame, *, selected: int, metric, metric_name: str, unit: str, moment) -> None:
    """Sensors drawn (of how many selected), their status or how many reported in the frame, how many of the
    selection measure the metric, and mean / min / max of the metric over the sensors that have a value."""
    values = points["value"] if metric else pd.Series(dtype=float)
    present = values.dropna()
    k = [*st.columns(3), *st.columns(3)]  # two rows of three: every label whole at 1280 px
    k[0].metric(
        t("map.shown"),
        fmt_int(len(points), lang()),
        delta=t("map.shown_of", n=fmt_int(selected, lang())) if len(points) < selected else None,
        delta_color="off",
        delta_arrow="off",
        help=t("map.shown_help"),
        border=True,
    )
    if moment == "now":
        counts = live.status_counts(points)
        k[1].metric(
            f"{t('status.online').capitalize()} / {t('status.stale')} / {t('status.offline')}",
            f"{counts['online']} / {counts['stale']} / {counts['offline']}",
            border=True,
        )
    else:
        k[1].metric(t("map.reported"), f"{int((points['count'] > 0).sum())} / {len(points)}", border=True)
    if metric:
        k[2].metric(
            t("map.measuring"),
            f"{fmt_int(int(points['measures'].sum()), lang())} / {fmt_int(selected, lang())}",
            help=t("map.measuring_help", metric=metric_name),
            border=True,
        )
    for col, label, value in (
        (k[3], t("map.mean"), present.mean() if len(present) else None),
        (k[4], t("map.min"), present.min() if len(present) else None),
        (k[5], t("map.max"), present.max() if len(present) else None),
    ):
        shown = fmt_compact(float(value), lang(), 1) if metric and value is not None and pd.notna(value) else "—"
        col.metric(
            f"{label} ({unit})" if metric and unit else label,
            shown,
            help=t("map.stat_help", n=fmt_int(len(present), lang())) if metric else None,
            border=True,
        )


def legend(scale, *, color_mode: str, metric_name: str, unit: str, moment) -> None:
    """The legend of what is drawn: the value scale (discs and aggregate layer share it) or the status colours."""
    if scale is not None:
        st.html(mg.legend(scale, lambda v: fmt_number(v, lang(), 1), f"{metric_name} ({unit})"))
    if color_mode == "metric":
        return
    if moment == "now":
        st.html(mg.legend_swatches([(mg.RGB[s], t(f"status.{s}")) for s in live.STATUSES]))
    else:
        st.html(mg.legend_swatches([(mg.RGB["online"], t("map.status.reported")), (mg.GREY, t("map.status.silent"))]))


def timeline(frames: pd.DataFrame, moment, *, metric_name: str, unit: str) -> None:
    """The network mean per replay frame (weighted by readings), the frame shown marked; box-zoom sets the range."""
    per_frame = frames.groupby("frame").apply(
        lambda g: (g["value"] * g["count"]).sum() / g["count"].sum(), include_groups=False
    )
    fig = go.Figure(
        go.Scatter(
            x=charts.local_naive(pd.Series(per_frame.index)),
            y=per_frame.values,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=charts.PALETTE[0]),
            name=metric_name,
            hovertemplate=charts.value_hover(per_frame.values, unit),
        )
    )
    fig.add_vline(x=charts.local_naive(pd.Series([pd.Timestamp(moment)])).iloc[0], line_color="#c5221f")
    charts.style(fig, height=180, legend=False)
    fig.update_layout(title=dict(text=t("map.timeline"), font=dict(size=12)), margin=dict(t=30, b=10))
    fig.update_yaxes(title_text=unit)
    plot.show(fig, key="map_timeline", zoom=True)


def sensor_table(points: pd.DataFrame, *, metric, metric_name: str, unit: str, moment) -> None:
    with st.expander(t("map.table")):
        values = points["value"] if metric else pd.Series(float("nan"), index=points.index)
        table = pd.DataFrame(
            {
                t("col.sensor"): [
                    f"{display_name(n, k, s)} ({s})"
                    for s, n, k in zip(points["sensor_id"], points["name"], points["kind"], strict=True)
                ],
                t("col.commune"): points["commune"],
                t("col.kind"): [t(f"kind.{k}") for k in points["kind"]],
                t("col.status"): [
                    t(f"map.status.{s}") if moment != "now" else t(f"status.{s}") for s in points["state"]
                ],
                (f"{metric_name} ({unit})" if metric else t("col.value")): [
                    fmt_number(v, lang(), 1) if pd.notna(v) else "—" for v in values
                ],
                t("col.last_seen"): [fmt_time(v, lang(), with_date=True) for v in points["last_time"]],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
