"""What each page really reads, recorded rather than listed: every page is run once in Streamlit's AppTest (its real
sidebar and page file, the URL parameters of the view measured, the dashboard clock pinned) against a database, with
components.data's cached read replaced by a recorder that notes each call (module, function, keyword arguments, the
`now` that load() adds included) and runs it uncached. bench/queries.py then times exactly these calls, so the
benchmark follows the pages when they change which queries they make, with no list to keep in step by hand.

A page that raises while recorded (e.g. a read over the dashboard's 15 s statement timeout) is reported with the
reads it had made, the failing one included (it was recorded before it ran): the benchmark times them without the
timeout, to say where the time goes.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

# page: URL parameters of the view the benchmark measures (DESIGN §6: the Live page; Trends over 30 days).
PAGES: dict[str, dict[str, str]] = {
    "live": {},
    "trends": {"range": "30d"},
    "map": {},
    "sensor": {},
    "pipeline": {"range": "24h"},
}
_ENV_CLEARED = ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD")


@dataclass(frozen=True)
class Call:
    """One read a page made through components.data.load: fn(engine, **kwargs)."""

    module: str
    name: str
    kwargs: tuple  # sorted (name, value) pairs, as load() passes them to the cache

    def __call__(self, engine):
        return getattr(importlib.import_module(self.module), self.name)(engine, **dict(self.kwargs))

    @property
    def label(self) -> str:
        return f"{self.module.rsplit('.', 1)[-1]}.{self.name}"


@contextmanager
def _environment(url: str, now: datetime) -> Iterator[None]:
    from components.clock import PIN_ENV

    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", PIN_ENV, *_ENV_CLEARED)}
    os.environ["DATABASE_URL"] = url
    os.environ[PIN_ENV] = now.isoformat()
    for name in _ENV_CLEARED:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def record(url: str, page: str, params: dict[str, str], now: datetime) -> list[Call]:
    """The reads one run of `page` makes on database `url` (owner URL; the page reads as the dashboard's role), the
    dashboard clock pinned at `now`, in the order the page makes them. Raises if the page raised."""
    calls, _, error = run_page(url, page, params, now)
    if error:
        raise RuntimeError(f"page {page} raised while recorded: {error}")
    return calls


def run_page(url: str, page: str, params: dict[str, str], now: datetime) -> tuple[list[Call], float, str | None]:
    """The page's reads, the seconds its script took (every read uncached: a first visit's server time), and the
    exception it raised, if any (its reads up to and including the failing one are in the list)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from components import data
    from tests.support.apptest import harness, restore_shipped_settings

    calls: list[Call] = []

    def recorder(module: str, name: str, kwargs: tuple):
        calls.append(Call(module, name, kwargs))
        return getattr(importlib.import_module(module), name)(data.engine(), **dict(kwargs))

    cached = data._cached
    data._cached = recorder
    try:
        with _environment(url, now):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_string(harness(page), default_timeout=300)
            at.query_params = params
            started = time.perf_counter()
            at.run()
            seconds = time.perf_counter() - started
            error = None
            if at.exception:  # the line that names the error, not the SQL text the message carries
                lines = [line for line in at.exception[0].value.splitlines() if line.strip()] or ["?"]
                error = next((line for line in lines if "Error" in line or "canceling" in line), lines[0])[:300]
    finally:
        data._cached = cached
        restore_shipped_settings()
    return calls, seconds, error


def record_pages(
    url: str, now: datetime, pages: dict[str, dict[str, str]] = PAGES
) -> tuple[dict[str, list[Call]], dict[str, str]]:
    """Each page's distinct reads (a read a page makes twice with the same arguments in one run is served the second
    time by load()'s cache in the real app, so it is timed once), and the error of each page that raised."""
    calls, errors = {}, {}
    for page, params in pages.items():
        page_calls, _, error = run_page(url, page, params, now)
        calls[page] = list(dict.fromkeys(page_calls))
        if error:
            errors[page] = error
    return calls, errors
