"""Every URL parameter of every page, fuzzed in Streamlit's AppTest on a seeded real PostgreSQL: hostile strings
(markdown links and images, HTML and script tags, spreadsheet formulas, LaTeX), extreme dates (years 1 and 9999,
impossible days), huge, negative and non-finite numbers, 5,000-digit and 20,000-character values, control
characters, unknown ids, and many repeated values. A run fails on any exception element and on any traceback text
or server path anywhere in the page (exception details are switched to "full" in the harness so that a failure
here shows its trace; the shipped config hides them). An ignored parameter must be announced by the plain-text
notice of components.inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.apptest import page_runner, restore_shipped_settings, seeded_pages_db
from tests.support.page_seed import FDF_AQ

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "live": ("lw",),
    "trends": ("window", "vars", "cmp"),
    "map": ("mcolor", "mlayer", "mlabels", "mframe"),
    "sensor": ("sensor_id", "gap"),
    "pipeline": (),
}
SHARED = ("lang", "refresh", "from", "to", "commune", "kind", "sensor", "metric")  # range: "custom" (see below)
PAYLOADS = [
    "[Session expired – click here](https://evil.example/login)",
    "![x](http://127.0.0.1:9/beacon.png)",
    '<img src=x onerror="alert(1)">',
    "<script>alert(1)</script>",
    '=HYPERLINK("https://evil.example","x")',
    r"$\frac{1}{0}$ :red[x] :material/warning:",
    "9999-12-31T23:59",
    "9999-12-31T20:00",
    "0001-01-01T00:00",
    "2026-02-30T25:61",
    "-1",
    "NaN",
    "-inf",
    "1e308",
    "9" * 5000,
    "x" * 20_000,
    "\x00\r\n\t\x1b[31m",
    "\u202eé𝔘",
    "",
    " ",
]
NOTICE = {"fr": "Paramètre d'adresse ignoré", "en": "Address parameter ignored"}


@pytest.fixture(scope="module")
def fuzz_db(pg_cluster):
    return seeded_pages_db(pg_cluster)


@pytest.fixture
def run_page(fuzz_db, monkeypatch):
    url, now = fuzz_db
    yield page_runner(url, now, monkeypatch)
    restore_shipped_settings()


def page_text(at: AppTest) -> str:
    """Every element's protobuf text (labels, bodies, options, chart specs), main area and sidebar."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


# What a payload above would look like had it reached markdown unescaped (escaped, each starts with a backslash).
UNESCAPED_MARKUP = ("](http", "![", "<img", "<script", "$\\frac", ":red[")


def markdown_bodies(at: AppTest) -> list[str]:
    """The markdown sources of every element that renders markdown, main area and sidebar."""
    kinds = ("markdown", "caption", "warning", "error", "info", "success", "title", "header", "subheader")
    return [element.value for kind in kinds for element in getattr(at, kind)]


def assert_clean(at: AppTest, what: str) -> str:
    assert not at.exception, f"{what}: {[(e.message, e.stack_trace[-3:]) for e in at.exception]}"
    text = page_text(at)
    for marker in ("Traceback", 'File "', 'File \\"', str(ROOT)):
        assert marker not in text, f"{what}: {marker!r} in the page"
    assert at.title, f"{what}: the page did not render its title"
    return text


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: repr(p[:24]) + (f"…{len(p)}" if len(p) > 24 else ""))
def test_every_parameter_of_every_page(run_page, page, payload):
    params = {name: payload for name in (*SHARED, *PAGES[page])} | {"range": "custom"}
    at = run_page(page, params)
    assert_clean(at, f"{page} {params}")
    if payload.strip():  # every parameter got a value none of them accepts: the notice names each of them
        notices = " ".join(w.value for w in at.warning if NOTICE["fr"] in w.value)
        expected = [name for name in (*SHARED, *PAGES[page]) if name != "sensor_id"]  # that one has its own warning
        assert all(f"« {name} »" in notices for name in expected), (page, notices)
    for body in markdown_bodies(at):  # hostile text reaches markdown escaped, never as markup
        for markup in UNESCAPED_MARKUP:
            assert not re.search(r"(?<!\\)" + re.escape(markup), body), (page, markup, body[:300])
        assert "://evil" not in body.replace("\\", ""), (page, "a bare URL GFM would link", body[:300])


@pytest.mark.parametrize("page", list(PAGES))
def test_range_and_ids_at_their_limits(run_page, page, fuzz_db):
    _, now = fuzz_db
    latest = now.astimezone().strftime("%Y-%m-%dT%H:%M")
    cases = [
        {"range": "9" * 5000, "from": "2000-01-01T00:00", "to": latest},  # the widest accepted custom range
        {"range": "custom", "from": "2000-01-01T00:00", "to": "2000-01-01T00:01"},
        {"range": "custom", "from": "0001-01-01T00:00", "to": latest},
        {"range": "custom", "from": "2026-01-01T00:00", "to": "9999-12-31T20:00"},
        {"range": "custom", "from": "9999-12-31T20:00", "to": "9999-12-31T23:59"},
        {"range": "custom", "from": "1999-12-31T23:59", "to": "9999-12-31T23:59"},
        {"range": "custom", "from": "2026-01-01T00:00-23:59", "to": "2026-01-02T00:00+23:59"},
        {"range": "30d", "sensor": [f"mq-ghost-{k:04d}" for k in range(1000)], "commune": ["x"] * 500},
        {"range": "15m", "lang": "en", "sensor": FDF_AQ, "metric": "pm10", "sensor_id": FDF_AQ[0] + "\x00"},
        {"range": "1h", "mframe": "2000-01-01T00:00", "gap": "-0", "vars": ["pm10"] * 300, "lw": "5 min"},
        {"range": PAYLOADS[0], "lang": PAYLOADS[2], "refresh": "1e308"},  # the range itself hostile
        {"range": "x" * 20_000, "refresh": "-5", "gap": "NaN"},
        {"range": "\x00", "refresh": "5" * 5000, "mlabels": "2", "cmp": "Overlay"},
    ]
    for params in cases:
        assert_clean(run_page(page, params), f"{page} {list(params)}")


def test_the_english_notice(run_page):
    at = run_page("sensor", {"lang": "en", "gap": "9" * 5000, "sensor_id": FDF_AQ[0]})
    assert_clean(at, "sensor en")
    assert any(NOTICE["en"] in w.value and "gap" in w.value for w in at.warning)
    assert at.session_state["sensor_gap_factor"] == 10


def test_extreme_custom_range_widget_values(run_page, fuzz_db):
    """The sidebar's date-and-time widgets pushed to years 1 and 9999 (a crafted websocket message could): the range
    stays within the parser's bounds and nothing fails."""
    from datetime import datetime

    from components import inputs

    _, now = fuzz_db
    at = run_page("trends", {"range": "custom"})
    for key, value in (
        ("sb_from", datetime(1, 1, 1, 0, 0)),
        ("sb_to", datetime(9999, 12, 31, 23, 59)),
        ("sb_from", datetime(9999, 12, 31, 23, 0)),
    ):
        at.sidebar.datetime_input(key=key).set_value(value).run()
        assert_clean(at, f"{key}={value}")
        for state in ("f_from", "f_to"):
            assert inputs.DATE_MIN <= at.session_state[state] <= inputs.date_max(now), (state, at.session_state[state])
        assert at.session_state["f_from"] < at.session_state["f_to"]
