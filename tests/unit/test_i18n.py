"""The catalogues are the only place texts live: every key the UI code asks for exists in both languages with the
same placeholders, and no UI module carries an inline translation table."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from components import i18n

ROOT = Path(__file__).resolve().parents[2]
UI_FILES = sorted([ROOT / "app.py", *(ROOT / "components").glob("*.py"), *(ROOT / "pages").glob("*.py")])
LITERAL = re.compile(r"""\bt\(\s*"([a-z0-9_.]+)"[,)]""")
PREFIX = re.compile(r"""\bt\(\s*f"([a-z0-9_.]+)\{""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _sources() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in UI_FILES}


def test_both_catalogues_have_the_same_keys_and_placeholders():
    fr, en = i18n.catalogue("fr"), i18n.catalogue("en")
    assert len(fr) > 300
    assert set(fr) == set(en), sorted(set(fr) ^ set(en))
    mismatched = [key for key in fr if _fields(fr[key]) != _fields(en[key])]
    assert not mismatched


@pytest.mark.parametrize("language", i18n.LANGS)
def test_every_literal_key_used_by_the_ui_exists(language):
    known = i18n.catalogue(language)
    used = {key for text in _sources().values() for key in LITERAL.findall(text)}
    assert len(used) > 200  # the pattern really finds the calls
    assert not sorted(used - set(known))


def test_every_dynamic_key_prefix_has_entries():
    known = set(i18n.catalogue("fr"))
    prefixes = {prefix for text in _sources().values() for prefix in PREFIX.findall(text)}
    assert "severity." in prefixes
    assert not sorted(p for p in prefixes if not any(k.startswith(p) for k in known))


def test_no_inline_translation_tables_in_ui_code():
    plumbing = {ROOT / "components" / "i18n.py", ROOT / "components" / "formatting.py"}  # language -> locale maps
    offenders = [
        str(p.relative_to(ROOT))
        for p, text in _sources().items()
        if p not in plumbing and re.search(r"""["']fr["']\s*:""", text)
    ]
    assert not offenders


def test_missing_key_shows_itself():
    assert i18n.t("no.such.key") == "no.such.key"
