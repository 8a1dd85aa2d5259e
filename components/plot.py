"""The one way the pages draw a Plotly figure: in the language's CLDR month and day names (Plotly config), and, for
the time charts that show the page's range, with box-zoom wired to that range: drawing a box on the time axis makes
its span the shared range of every page (the sidebar's custom range, hence the URL), so every chart follows.

Streamlit 1.67 reports no Plotly relayout (zoom) events, only selections: the time charts therefore open in box
selection mode, horizontal only (charts.style sets selectdirection), and the selected span is the zoom."""

from __future__ import annotations

from functools import partial

import streamlit as st

from components import clock, inputs
from components.formatting import plotly_locale
from components.i18n import lang
from components.sidebar import set_custom_range

ZOOMS = "_chart_zooms"  # how many box-zooms this session made: part of every zoomable chart's key


def config() -> dict:
    return {**plotly_locale(lang()), "displaylogo": False}


def _zoomed(widget_key: str) -> None:
    """on_select callback: the box's time span becomes the page range; a click or an empty selection does nothing."""
    state = st.session_state.get(widget_key)
    selection = state.get("selection") if state is not None else None
    span = inputs.parse_box_range(selection.get("box") if selection is not None else None, clock.now())
    if span is None:
        return
    set_custom_range(*span)
    # A new key next run: the charts come back without the old selection box drawn over the new range.
    st.session_state[ZOOMS] = st.session_state.get(ZOOMS, 0) + 1


def show(fig, *, key: str, where=None, zoom: bool = False) -> None:
    """Draw `fig` full width in `where` (default: the current container). zoom=True for a time chart over the
    page's range: a box drawn on it sets that range."""
    target = where if where is not None else st
    if not zoom:
        target.plotly_chart(fig, width="stretch", key=key, config=config())
        return
    widget_key = f"{key}__zoom{st.session_state.get(ZOOMS, 0)}"
    target.plotly_chart(
        fig,
        width="stretch",
        key=widget_key,
        config=config(),
        on_select=partial(_zoomed, widget_key),
        selection_mode="box",
    )
