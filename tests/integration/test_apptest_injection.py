"""Text is text: hostile strings in every place a device, a user or the URL controls (a sensor's name, id and commune
in the sensors table, an alert's acknowledger, comment, assignee and resolution, the alert history's actors and
comments, a silence's reason and author, a quarantined message's payload, detail, source and reason, the action
forms and the acting identity, URL parameters) reach the five pages in AppTest on real PostgreSQL. No element that
renders markdown holds an unescaped link, image, HTML tag, LaTeX or Streamlit directive from them; no st.html body,
Plotly label or map tooltip holds a live tag; the CSV export neutralises formulas, header included."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.csv_export import build_csv, read_export
from tests.support.apptest import page_runner, restore_shipped_settings, seeded_pages_db
from tests.support.page_seed import (
    FDF_AQ,
    FORMULA,
    HOSTILE,
    HOSTILE_COMMUNE,
    HOSTILE_ID,
    LINK,
    TAG,
)

ROOT = Path(__file__).resolve().parents[2]
# Markup that would be live had a payload reached markdown unescaped (an escaped character follows a backslash).
MARKDOWN_MARKUP = ("](https://evil", "](http://127", "![x]", "<img", "<script", "<b>", "$\\frac", ":red[rouge]")
# Bare URLs GFM would turn into links even escaped (md_escape breaks them with a word joiner).
AUTOLINKS = ("://evil", "://127")
# Tags that would be live in HTML, Plotly text or a deck.gl tooltip.
HTML_MARKUP = ("<img", "<script", "<b>Fort", "<a ")


@pytest.fixture(scope="module")
def hostile_db(pg_cluster):
    return seeded_pages_db(pg_cluster, hostile=True)


@pytest.fixture
def run_page(hostile_db, monkeypatch):
    url, now = hostile_db
    yield page_runner(url, now, monkeypatch)
    restore_shipped_settings()


def unescaped(body: str, markup: str) -> bool:
    """markup present and live: not after a backslash, not inside a code span (literal in CommonMark)."""
    body = re.sub(r"`[^`]*`", "", body)
    return re.search(r"(?<!\\)" + re.escape(markup), body) is not None


def tooltips(value) -> list[str]:
    """The deck.gl tooltip bodies (the only map strings rendered as HTML; the other fields are data)."""
    if isinstance(value, dict):
        own = [value["tip"]] if isinstance(value.get("tip"), str) else []
        return own + [s for v in value.values() for s in tooltips(v)]
    if isinstance(value, list):
        return [s for v in value for s in tooltips(v)]
    return []


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def check_page(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.message for e in at.exception]}"
    kinds = ("markdown", "caption", "warning", "error", "info", "success", "title", "header", "subheader")
    bodies = [element.value for kind in kinds for element in getattr(at, kind)]
    # Labels of widgets and metric cards render markdown too.
    for kind in ("metric", "selectbox", "multiselect", "radio", "segmented_control", "text_input", "button"):
        bodies += [element.label for element in getattr(at, kind) if getattr(element, "label", None)]
    for body in bodies:
        for markup in MARKDOWN_MARKUP:
            assert not unescaped(body, markup), f"{where}: {markup!r} live in {body[:300]!r}"
        resolved = re.sub(r"`[^`]*`", "", body).replace("\\", "")
        for url in AUTOLINKS:
            assert url not in resolved, f"{where}: a bare URL {url!r} GFM would link in {body[:300]!r}"
    for element in at.get("html"):
        for markup in HTML_MARKUP:
            assert markup not in element.proto.body, f"{where}: {markup!r} in st.html"
    for chart in at.get("plotly_chart"):
        for text in strings(json.loads(chart.proto.spec)):
            for markup in HTML_MARKUP:
                assert markup not in text, f"{where}: {markup!r} in a Plotly label {text[:200]!r}"
    for deck in at.get("deck_gl_json_chart"):
        for text in tooltips(json.loads(deck.proto.json)):
            for markup in HTML_MARKUP:
                assert markup not in text, f"{where}: {markup!r} in the map spec {text[:200]!r}"


@pytest.mark.parametrize(
    ("page", "params"),
    [
        ("live", {"range": "1h"}),
        ("live", {"range": "1h", "sensor": FDF_AQ[0], "metric": "pm10"}),
        ("trends", {"range": "1h", "sensor": FDF_AQ[:3], "metric": "pm10"}),
        ("trends", {"range": "1h", "commune": HOSTILE_COMMUNE, "cmp": "multiples"}),
        ("map", {"range": "1h", "metric": "pm10"}),
        ("map", {"range": "1h", "commune": HOSTILE_COMMUNE}),
        ("sensor", {"range": "1h", "sensor_id": FDF_AQ[0]}),
        ("sensor", {"range": "1h", "sensor_id": HOSTILE_ID}),
        ("sensor", {"range": "1h", "sensor_id": HOSTILE}),
        ("pipeline", {"range": "1h"}),
        ("pipeline", {"range": "1h", "sensor": [FDF_AQ[0], HOSTILE_ID]}),
    ],
)
def test_hostile_strings_render_as_text(run_page, page, params):
    check_page(run_page(page, params), f"{page} {params}")


def test_the_hostile_sensor_is_really_shown(run_page):
    """The checks above see the hostile strings (escaped), not an empty page."""
    at = run_page("sensor", {"range": "1h", "sensor_id": FDF_AQ[0]})
    # Shown as "<kind> – <place part of the stored name>": the hostile place part, escaped.
    assert at.subheader[0].value.startswith(r"Qualité de l'air – click here\]\(https\:")
    assert r"\<b\>Fort\</b\>" in " ".join(m.value for m in at.markdown)
    at = run_page("pipeline", {"range": "1h"})
    samples = at.dataframe[-1].value
    assert any("<img" in str(v) for v in samples.iloc[:, -2])  # a dataframe cell shows the payload as plain text
    at = run_page("map", {"range": "1h"})
    tips = [tip for deck in at.get("deck_gl_json_chart") for tip in tooltips(json.loads(deck.proto.json))]
    assert any("&lt;img src=x onerror=alert(3)&gt;" in tip for tip in tips)  # the hostile id, escaped
    spec = json.loads(run_page("trends", {"range": "1h", "sensor": FDF_AQ[0]}).get("plotly_chart")[1].proto.spec)
    assert any("&lt;script&gt;" in text for text in strings(spec))  # its name as a Plotly trace name, escaped


def test_hostile_actor_comment_assignee_and_reason(run_page, monkeypatch):
    """Through the action forms: an actor whose name (from the login) is hostile, hostile comments, assignee and
    silence reason, and a refusal whose message names the hostile acknowledger of another alert."""
    from components import identity

    actor = identity.Actor(subject=LINK, display=f"{LINK} {TAG}", role="operator", authenticated=True)
    monkeypatch.setattr(identity, "current_actor", lambda: actor)
    at = run_page("live", {"range": "1h", "sensor": FDF_AQ[0]})
    check_page(at, "live with the hostile history")
    feed = at.dataframe[0].value.set_index("#")
    pm10 = int(feed.index[feed["Message"] == "PM10 > 80"][0])
    muet = int(feed.index[feed["Message"] == "muet"][0])
    at.selectbox(key="action_alert_0_fr").set_value(pm10)
    at.text_area(key="action_text_acknowledge_0").input(HOSTILE)
    next(b for b in at.button if b.label == "Acquitter").click().run()
    assert at.success, [e.value for e in at.error]
    assert r"\[Session expired" in at.success[0].value
    check_page(at, "live after acknowledging")
    at.segmented_control(key="alert_action_fr").set_value("assign").run()
    at.selectbox(key="action_alert_1_fr").set_value(pm10)
    at.text_input(key="action_assignee_1").input(f"{LINK} {TAG}")
    at.text_area(key="action_text_assign_1").input(HOSTILE)
    next(b for b in at.button if b.label == "Assigner").click().run()
    assert at.success, [e.value for e in at.error]
    check_page(at, "live after assigning")
    at.segmented_control(key="alert_action_fr").set_value("acknowledge").run()
    at.selectbox(key="action_alert_2_fr").set_value(muet)  # acknowledged by a hostile name: refused, named
    next(b for b in at.button if b.label == "Acquitter").click().run()
    assert any("Session expired" in e.value for e in at.error)
    check_page(at, "live after a refusal")
    at.text_area(key="silence_reason_2").input(HOSTILE)
    next(b for b in at.button if b.label == "Mettre en silence").click().run()
    assert any("Silence posé" in s.value for s in at.success), [e.value for e in at.error]
    check_page(at, "live after silencing")
    history = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert LINK in set(history["Par"]) and any(HOSTILE in d for d in history["Détail"])  # shown, as data


def test_csv_export_neutralises_formulas():
    catalogue = pd.DataFrame(
        {"sensor_id": ["@cmd"], "name": [FORMULA], "commune": [" +1+1"], "kind": ["-2"], "metrics": [("pm10",)]}
    )
    series = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-11-22T12:00:00Z"]),
            "sensor_id": ["@cmd"],
            "metric": ["pm10"],
            "value": [-1.5],
            "min": [-2.0],
            "max": [-1.0],
            "count": [3],
        }
    )
    header = {"communes": f"a,{FORMULA}", "sensors": "x\n=2+2"}
    payload = build_csv(series, window_s=60, header=header, catalogue=catalogue, units={"pm10": "=µg"})
    rows = list(csv.reader(io.StringIO(payload.decode("utf-8"))))
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r", "\n")) or cell.startswith("'"), cell
            if cell.startswith("-") and cell not in ("-1.5", "-2.0", "-1.0"):
                raise AssertionError(cell)
    assert all(len(row) == 1 and row[0].startswith("# ") for row in rows[:2])  # a comma opens no cell
    parsed_header, data = read_export(payload)
    assert parsed_header["communes"] == f"a,{FORMULA}"
    assert data.loc[0, "sensor_name"] == "'" + FORMULA and data.loc[0, "sensor_id"] == "'@cmd"
    assert data.loc[0, "commune"] == "' +1+1" and data.loc[0, "mean"] == -1.5  # numbers stay numbers
