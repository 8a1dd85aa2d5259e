"""French-first labels with an English switch, read from the gettext catalogues in `locales/<lang>/LC_MESSAGES/`.

The msgid of each entry is the dotted key the code passes to `t()`; its msgstr is the text. One catalogue per
language, read with Babel at first use (no compile step); a key missing from a catalogue falls back to French, then
shows itself (visible in tests, and `tests/unit/test_i18n.py` fails on any key the code uses that a catalogue lacks).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
from babel.messages.pofile import read_po

LANGS = ("fr", "en")
LANG_NAMES = {"fr": "Français", "en": "English"}
LOCALES = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "madinina"


@cache
def catalogue(language: str) -> dict[str, str]:
    """key -> text for one language (fuzzy or empty entries are left out: they are not translations yet)."""
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
        parsed = read_po(handle, locale=language)
    return {m.id: m.string for m in parsed if m.id and m.string and not m.fuzzy}


def lang() -> str:
    value = st.session_state.get("lang", "fr")
    return value if value in LANGS else "fr"


def t(key: str, **fields) -> str:
    text = catalogue(lang()).get(key) or catalogue("fr").get(key) or key
    return text.format(**fields) if fields else text


def metric_label(row) -> str:
    """Label of a metric from a row having label_fr / label_en."""
    return row["label_fr"] if lang() == "fr" else row["label_en"]


def metric_short(metric: str, row) -> str:
    """A metric's short label for KPI cards (`metric.short.<metric>`, "Occupation parking"), its full label for a
    metric the catalogue does not name (added by an operator)."""
    return catalogue(lang()).get(f"metric.short.{metric}") or metric_label(row)
