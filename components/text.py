"""Text is text: every user- or device-controlled string (URL parameters, sensor names and ids, commune names,
alert comments and acknowledger names, quarantine payloads, database error details) goes through one of these
before it reaches an element that renders markdown (st.markdown, st.warning, st.caption, subheaders, widget
labels...), HTML (st.html, pydeck tooltips) or Plotly text (which understands a few HTML tags, links included).

Dataframes, st.text and st.code show their content as plain text and need none of this."""

from __future__ import annotations

import html
import re
import unicodedata

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and the escaped character is then
# literal. Escaped here: what can open a link, image, emphasis, code, HTML tag or entity, heading, table, LaTeX ($),
# Streamlit directive (:red[...], :material/...:) or emoji shortcode, and the "." and "@" of GFM's bare autolinks
# (www.example.com, someone@example.com). A leading "-" or "+" would start a list item.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>$~:&^.@+])")
# Control characters (except tab) would break lines or render oddly; they are shown as their code.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")
DEFAULT_MAX = 200
# GFM turns bare URLs and e-mail addresses into links even when their characters are backslash-escaped (the escapes
# are resolved before autolinking: measured in Chromium). An invisible WORD JOINER breaks the patterns it looks for.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(\\:)(?=//)|(?i:(www))(?=\\\.)|(\\@)")


def clip(text: object, max_chars: int = DEFAULT_MAX) -> str:
    """str(text), control characters shown as \\xNN, cut at max_chars (with an ellipsis)."""
    value = "" if text is None else str(text)
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)
    value = "".join(ch for ch in value if unicodedata.category(ch) != "Cs")  # lone surrogates cannot be sent
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"


def _break_autolink(match: re.Match) -> str:
    return WORD_JOINER.join(("", match.group(0), "")) if match.group(3) else match.group(0) + WORD_JOINER


def md_escape(text: object, max_chars: int = DEFAULT_MAX) -> str:
    """A string shown literally inside markdown (no markup, and no bare URL or address turned into a link)."""
    escaped = _AUTOLINK.sub(_break_autolink, _MD_SPECIAL.sub(r"\\\1", clip(text, max_chars)))
    return "\\" + escaped if escaped.startswith("-") else escaped


def html_escape(text: object, max_chars: int = DEFAULT_MAX) -> str:
    """A string shown literally inside HTML (st.html, pydeck tooltips, Plotly labels)."""
    return html.escape(clip(text, max_chars), quote=True)


def md_code(text: object, max_chars: int = DEFAULT_MAX) -> str:
    """A string for inside a markdown code span (`...`), where nothing is interpreted but a backtick, which would
    close the span: backticks become apostrophes."""
    return clip(text, max_chars).replace("`", "'")


def plotly_text(text: object, max_chars: int = DEFAULT_MAX) -> str:
    """A string for Plotly trace names, axis labels and subplot titles: Plotly renders a subset of HTML there
    (<b>, <br>, <a href=...>), so the tag characters are escaped (apostrophes and quotes are left: no attribute)."""
    return html.escape(clip(text, max_chars), quote=False)


_PATH = re.compile(r"(?<![\w:/])/(?:[^\s\"'/]+/)+[^\s\"']*")


def scrub_paths(text: object) -> str:
    """An error detail for a browser: server paths (a Unix socket, a data directory) replaced by "…" (DESIGN §9)."""
    return _PATH.sub("…", "" if text is None else str(text))
