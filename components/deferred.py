"""Heavy elements last on the wire, in their place on the page.

Streamlit sends a page's elements to the browser in the order the script creates them, and the browser draws them
in that order: a Plotly chart or a data grid ahead of the KPI cards makes the cards wait for Plotly's or the grid's
JavaScript to load and run (bench/browser_trace.py measured the cards of the Pipeline page drawn ~12 s after their
message arrived, behind the charts above them). `Deferred` keeps an empty container where a heavy element belongs and
draws the element into it at `flush()`, called at the end of the page: the light parts (KPI cards, captions, titles)
go out first, the charts and tables follow, and the page looks exactly as if drawn in order."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


class Deferred:
    def __init__(self) -> None:
        self._jobs: list[tuple[object, Callable, tuple, dict]] = []

    def __call__(self, draw: Callable, *args, **kwargs) -> None:
        """Keep the place of `draw(*args, **kwargs)` (e.g. st.plotly_chart, st.dataframe): drawn at flush()."""
        self._jobs.append((st.container(), draw, args, kwargs))

    def flush(self) -> None:
        jobs, self._jobs = self._jobs, []
        for slot, draw, args, kwargs in jobs:
            with slot:
                draw(*args, **kwargs)
