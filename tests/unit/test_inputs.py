"""components.inputs and components.text, the one place URL values are parsed and the one way untrusted text is
shown: property-tested on arbitrary input (never an exception; only accepted values come out; escaped text has no
markup left), plus the limits named in the brief (years 1 and 9999, 5,000 digits)."""

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from components import inputs
from components.text import html_escape, md_escape, scrub_paths

NOW = datetime(2026, 11, 22, 14, 7, 13, tzinfo=UTC)
CHOICES = ("15m", "1h", "custom")


@given(st.text())
def test_local_times_never_raise_and_stay_in_range(text):
    value = inputs.parse_local_time(text, NOW)
    assert value is None or inputs.DATE_MIN <= value <= inputs.date_max(NOW)
    if value is not None:
        inputs.local_to_utc(value)  # every accepted value converts (no overflow at year 9999)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_local_times_from_isoformat(moment):
    value = inputs.parse_local_time(moment.strftime("%Y-%m-%dT%H:%M"), NOW)
    inside = inputs.DATE_MIN <= moment.replace(second=0, microsecond=0) <= inputs.date_max(NOW)
    assert (value is not None) == inside
    if inside:
        assert value == moment.replace(second=0, microsecond=0)


def test_local_time_limits():
    assert inputs.parse_local_time("9999-12-31T20:00", NOW) is None
    assert inputs.parse_local_time("0001-01-01T00:00", NOW) is None
    assert inputs.parse_local_time("9999-12-31T23:59-23:59", NOW) is None  # the offset would overflow
    assert inputs.parse_local_time("2000-01-01T00:00", NOW) == datetime(2000, 1, 1)
    assert inputs.parse_local_time("2026-11-23T10:07", NOW) == datetime(2026, 11, 23, 10, 7)  # now + 1 day, local
    assert inputs.parse_local_time("2026-11-23T10:08", NOW) is None
    assert inputs.clamp_local(datetime(1, 1, 1), NOW) == inputs.DATE_MIN
    assert inputs.clamp_local(datetime(9999, 1, 1), NOW) == inputs.date_max(NOW)
    assert inputs.date_max(NOW) == (NOW - timedelta(hours=4) + timedelta(days=1)).replace(tzinfo=None, second=0)


@given(st.text(), st.integers(-(10**6), 10**6), st.integers(0, 10**6))
def test_ints_are_bounded(text, low, width):
    value = inputs.parse_int(text, low=low, high=low + width)
    assert value is None or low <= value <= low + width


def test_int_limits():
    assert inputs.parse_int("9" * 5000, low=0, high=300) is None  # never int() on it
    assert inputs.parse_int("300", low=0, high=300) == 300 and inputs.parse_int("-0", low=0, high=5) == 0
    for text in ("NaN", "inf", "1e3", "٣", "²", " ", "", "+", "-"):
        assert inputs.parse_int(text, low=-10, high=10) is None
    assert inputs.parse_int_choice("60", (5, 10, 60, 300)) == 60 and inputs.parse_int_choice("61", (5, 60)) is None


@given(st.one_of(st.none(), st.text()))
def test_choices_are_exact(text):
    value = inputs.parse_choice(text, CHOICES)
    assert value is None or (value in CHOICES and value == text)


@given(st.lists(st.text(max_size=5), max_size=400))
def test_ids_come_from_the_catalogue(values):
    allowed = {"a", "b", "c"}
    kept = inputs.parse_ids(values, allowed)
    assert set(kept) <= allowed and len(kept) == len(set(kept))


@given(st.text())
def test_escaped_markdown_has_no_markup_left(text):
    escaped = md_escape(text, max_chars=10_000)
    # Every markup character is preceded by a backslash that is itself not escaped.
    k = 0
    while k < len(escaped):
        if escaped[k] == "\\":
            k += 2
            continue
        assert escaped[k] not in "`*_[]()#!|<>$~:&{}^.@+", (text, escaped)
        k += 1
    assert "\n" not in escaped and "\x00" not in escaped
    # No bare URL or address for GFM to autolink once the escapes are resolved.
    resolved = escaped.replace("\\", "").lower()
    assert "://" not in resolved and "www." not in resolved and re.search(r"[^\u2060]@|@[^\u2060]", resolved) is None


@given(st.text())
def test_escaped_html_has_no_tag(text):
    escaped = html_escape(text, max_chars=10_000)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped


def test_escapes_of_the_measured_payloads():
    link = md_escape("[Session expired – click here](https://evil.example/login)")
    assert link == "\\[Session expired – click here\\]\\(https\\:\u2060//evil\\.example/login\\)"
    assert md_escape("![x](http://host/beacon.png)").startswith(r"\!\[x\]")
    assert md_escape("- item") == r"\- item" and md_escape("mq-fdf-aq-01") == "mq-fdf-aq-01"
    assert md_escape("x" * 500).endswith("…") and len(md_escape("x" * 500)) == 200


def test_error_details_lose_server_paths():
    socket = 'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory'
    assert scrub_paths(socket) == 'connection to server on socket "…" failed: No such file or directory'
    assert scrub_paths("FATAL: could not open /srv/madinina/pgdata/base/1 x") == "FATAL: could not open … x"
    kept = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused (http://a/b stays a URL)'
    assert scrub_paths(kept) == kept and scrub_paths(None) == ""
