"""The one place where URL parameters and widget values are parsed. Everything a visitor can type into an address
bar (or push into a widget) is checked here: strings cut at MAX_PARAM_CHARS, choices checked against their list,
numbers bounded, ids checked against the catalogue, Martinique local times kept within [DATE_MIN, now + 1 day].
A rejected value falls back to the default and leaves a notice, shown once as a plain-text warning
(`flush_notices`), never an exception.

The pure functions take what they need (raw text, choices, now) and are property-tested; the `param_*` readers
wrap them around st.query_params and the session's notices."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from components import clock
from components.formatting import TZ
from components.i18n import t
from components.text import md_escape

LOCAL = ZoneInfo(TZ)
MAX_PARAM_CHARS = 200  # longer than any valid value (ids, ISO times, metric names)
MAX_LIST_VALUES = 200  # repeated parameters (sensor=…): more than the catalogue holds is an attack
DATE_MIN = datetime(2000, 1, 1)  # naive Martinique local time; nothing in the network is older
FUTURE_SLACK = timedelta(days=1)  # a range may end a little after now (clock skew, a link shared at midnight)
_NOTICES = "_input_notices"


# -- pure parsing ---------------------------------------------------------------------------------------------------
def date_max(now: datetime) -> datetime:
    """Latest accepted local time (naive): now + FUTURE_SLACK, in Martinique."""
    return (now.astimezone(LOCAL) + FUTURE_SLACK).replace(tzinfo=None, second=0, microsecond=0)


def in_date_range(value: datetime, now: datetime) -> bool:
    return DATE_MIN <= value <= date_max(now)


def parse_local_time(text: str | None, now: datetime) -> datetime | None:
    """'YYYY-MM-DDTHH:MM' (Martinique local time; an explicit offset is converted) -> naive local datetime to the
    minute; None when absent, malformed, too long or outside [DATE_MIN, now + 1 day]."""
    if not text or len(text) > MAX_PARAM_CHARS:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: an offset pushing year 9999 past the end
        return None
    value = value.replace(second=0, microsecond=0)
    return value if in_date_range(value, now) else None


def clamp_local(value: datetime, now: datetime) -> datetime:
    """A widget's local time brought into [DATE_MIN, now + 1 day]."""
    return min(max(value.replace(tzinfo=None), DATE_MIN), date_max(now))


def local_to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=LOCAL).astimezone(UTC)


def parse_choice(text: str | None, choices: Collection[str]) -> str | None:
    """text when it is one of choices (exact match), else None."""
    if text is None or len(text) > MAX_PARAM_CHARS:
        return None
    return text if text in choices else None


def parse_int(text: str | None, *, low: int, high: int) -> int | None:
    """A decimal integer in [low, high]; None otherwise (never int() on thousands of digits: Python refuses
    more than 4,300 and it costs time before that)."""
    if text is None:
        return None
    text = text.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > len(str(max(abs(low), abs(high)))):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_int_choice(text: str | None, choices: Collection[int]) -> int | None:
    if not choices:
        return None
    value = parse_int(text, low=min(choices), high=max(choices))
    return value if value in choices else None


def parse_ids(values: Iterable[str], allowed: Collection[str]) -> tuple[str, ...]:
    """The values that are known ids, in order, without repeats (at most MAX_LIST_VALUES considered)."""
    kept = []
    for k, value in enumerate(values):
        if k >= MAX_LIST_VALUES:
            break
        if len(value) <= MAX_PARAM_CHARS and value in allowed:
            kept.append(value)
    return tuple(dict.fromkeys(kept))


def parse_chart_time(value: object, now: datetime) -> datetime | None:
    """A time as a Plotly date axis reports it ("2026-11-22 08:15:30.123", Martinique local time, as drawn) -> naive
    local datetime; None when not a string, too long, malformed or outside [DATE_MIN, now + 1 day]."""
    if not isinstance(value, str) or len(value) > MAX_PARAM_CHARS:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None  # the charts draw naive local times: an offset did not come from them
    return moment if in_date_range(moment, now) else None


def parse_box_range(box: object, now: datetime) -> tuple[datetime, datetime] | None:
    """The time range of a box selection on a time chart (Streamlit's selection["box"]: a list of {"x": [x0, x1],
    ...}; the last box counts) -> (start, end), naive local times widened to whole minutes, start < end; None when
    there is no usable box."""
    if not isinstance(box, list | tuple) or not box or not isinstance(box[-1], dict):
        return None
    xs = box[-1].get("x")
    if not isinstance(xs, list | tuple) or len(xs) != 2:
        return None
    times = [parse_chart_time(x, now) for x in xs]
    if None in times:
        return None
    low, high = sorted(times)
    start = low.replace(second=0, microsecond=0)
    end = high.replace(second=0, microsecond=0)
    if end < high:  # up to the next whole minute, within the accepted range
        end = min(end + timedelta(minutes=1), date_max(now))
    return (start, end) if start < end else None


# -- Streamlit: the URL and the notices -----------------------------------------------------------------------------
def reject(name: str) -> None:
    """Note that URL parameter `name` was ignored (shown once by flush_notices)."""
    pending = st.session_state.setdefault(_NOTICES, [])
    if name not in pending:
        pending.append(name)


def flush_notices() -> None:
    """Show the parameters ignored so far as one plain-text warning, then forget them."""
    pending = st.session_state.pop(_NOTICES, None)
    if pending:
        names = ", ".join(f"« {md_escape(n, 40)} »" for n in pending)
        st.warning(t("inputs.rejected", names=names), icon=":material/link_off:")


def raw_param(name: str) -> str | None:
    """The last value of URL parameter `name` (None when absent)."""
    values = st.query_params.get_all(name)
    return values[-1] if values else None


def param_choice(name: str, choices: Collection[str], default):
    raw = raw_param(name)
    value = parse_choice(raw, choices)
    if raw is not None and value is None:
        reject(name)
    return default if value is None else value


def param_int_choice(name: str, choices: Collection[int], default: int) -> int:
    raw = raw_param(name)
    value = parse_int_choice(raw, choices)
    if raw is not None and value is None:
        reject(name)
    return default if value is None else value


def param_local_time(name: str) -> datetime | None:
    raw = raw_param(name)
    value = parse_local_time(raw, clock.now())
    if raw is not None and value is None:
        reject(name)
    return value


def param_ids(name: str, allowed: Collection[str]) -> tuple[str, ...]:
    values = st.query_params.get_all(name)
    kept = parse_ids(values, allowed)
    if len(kept) < len(set(values)):
        reject(name)
    return kept
