"""Numbers and times as readers of each language expect them, from CLDR through Babel (never hand-written):
French as written in Martinique (`fr_MQ`: decimal comma, narrow no-break space between thousands, dd/MM/y), English
with British conventions (`en_GB`: 24-hour clock, day first); every time shown in America/Martinique."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
from babel import Locale
from babel.dates import format_datetime, format_skeleton, format_time, parse_pattern
from babel.numbers import format_compact_decimal, format_decimal, format_percent
from babel.units import format_unit

TZ = "America/Martinique"
LOCALES = {"fr": "fr_MQ", "en": "en_GB"}


def locale(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, LOCALES["fr"]))


def fmt_number(value: float | None, lang: str = "fr", decimals: int = 1) -> str:
    """A number with exactly `decimals` decimals and the language's separators; "—" for none/NaN/infinite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return "—"
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=locale(lang), decimal_quantization=True)


def to_local(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(TZ)


def _local(moment: datetime | pd.Timestamp) -> datetime:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_convert(TZ) if stamp.tzinfo else stamp.tz_localize("UTC").tz_convert(TZ)
    return stamp.floor("us").to_pydatetime()  # Python datetimes stop at microseconds


def fmt_time(moment: datetime | pd.Timestamp | None, lang: str = "fr", *, with_date: bool = False) -> str:
    """Martinique time of day (HH:mm:ss), with the date in the language's short form when asked; "—" for none."""
    if moment is None or pd.isna(moment):
        return "—"
    local = _local(moment)
    if with_date:
        return format_datetime(local, "dd/MM/y HH:mm:ss", locale=locale(lang))
    return format_time(local, "HH:mm:ss", locale=locale(lang))


def fmt_skeleton(moment: datetime | pd.Timestamp | None, lang: str = "fr", *skeletons: str) -> str:
    """A Martinique moment in CLDR skeletons joined by a space, e.g. ("Md", "Hm") -> "22/11 18:27"; "—" for none."""
    if moment is None or pd.isna(moment):
        return "—"
    local = _local(moment)
    return " ".join(format_skeleton(skeleton, local, locale=locale(lang)) for skeleton in skeletons)


def fmt_hour(hour: int, lang: str = "fr") -> str:
    """An hour of the day as CLDR writes it on its own ("07"), for a 24-hour axis."""
    return format_skeleton("H", datetime(2000, 1, 1, hour), locale=locale(lang))


def plotly_separators(lang: str) -> str:
    """Plotly's layout.separators (decimal then thousands), taken from the same CLDR locale as fmt_number."""
    symbols = locale(lang).number_symbols["latn"]
    return symbols["decimal"] + symbols["group"]


def fmt_int(value: float | None, lang: str = "fr") -> str:
    """A whole number with the language's thousands separator ("4 753", "4,753"); "—" for none/NaN."""
    return fmt_number(value, lang, 0)


def fmt_signed(value: float | None, lang: str = "fr", decimals: int = 1) -> str:
    """A difference with an explicit sign from a Babel pattern: "+2,3", "−2,3" (minus sign, not hyphen), and "±0,0"
    for what rounds to zero (never "−0,0")."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "—"
    digits = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    rounded = round(float(value), decimals)
    pattern = f"±{digits}" if rounded == 0 else f"+{digits};−{digits}"
    return format_decimal(abs(rounded) if rounded == 0 else rounded, format=pattern, locale=locale(lang))


COMPACT_FROM = 1000  # KPI cards hold about 10 characters at 1280 px: 4 513,4 veh/h does not fit, 4,5 k veh/h does


def auto_decimals(value: float | None) -> int:
    """Decimals showing about three significant digits, between 1 and 4: 25,0 · 5,20 · 0,312 · 0,0031."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)) or float(value) == 0:
        return 1
    return int(min(4, max(1, 2 - math.floor(math.log10(abs(float(value)))))))


def fmt_compact(value: float | None, lang: str = "fr", decimals: int | None = None) -> str:
    """A number for a KPI card: from COMPACT_FROM on in CLDR's short compact form ("4,5 k", "1,2 M"; "4.5k" in
    English), below with `decimals` decimals (default: auto_decimals); "—" for none/NaN."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "—"
    if abs(float(value)) < COMPACT_FROM:
        return fmt_number(value, lang, auto_decimals(value) if decimals is None else decimals)
    return format_compact_decimal(float(value), format_type="short", locale=locale(lang), fraction_digits=1)


_DURATION_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60), ("duration-second", 1))


def fmt_duration(seconds: float | None, lang: str = "fr", *, units: int = 2) -> str:
    """A duration in its largest `units` CLDR units, each counted exactly ("2 j 3 h", "15 min 20 s"; "2 days 3 hr"
    in English); "—" when unknown."""
    if seconds is None or pd.isna(seconds) or not math.isfinite(float(seconds)):
        return "—"
    rest = int(round(max(float(seconds), 0.0)))
    parts = []
    for unit, size in _DURATION_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(format_unit(count, unit, length="short", locale=locale(lang)))
    return " ".join(parts[:units]) or format_unit(0, "duration-second", length="short", locale=locale(lang))


def fmt_milliseconds(value: float | None, lang: str = "fr") -> str:
    """A latency in the unit that reads best, from CLDR: '0,5 ms', '20 ms', '1,5 s', '2 min'; "—" when unknown."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return "—"
    value = float(value)
    if value < 1000:
        amount, unit, decimals = value, "duration-millisecond", 0 if value >= 1 else 1
    elif value < 60_000:
        amount, unit, decimals = value / 1000, "duration-second", 0 if value % 1000 == 0 else 1
    else:
        amount, unit, decimals = value / 60_000, "duration-minute", 0
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_unit(amount, unit, length="short", format=pattern, locale=locale(lang))


def fmt_percent(share: float | None, lang: str = "fr", decimals: int = 1) -> str:
    """A share (0-1) as a CLDR percentage ("12,5 %", "12.5%"); "—" for none/NaN."""
    if share is None or pd.isna(share) or not math.isfinite(float(share)):
        return "—"
    base = locale(lang).percent_formats[None].pattern  # "#,##0 %" in French (narrow no-break space), "#,##0%"
    head, _, tail = base.rpartition("0")
    pattern = head + "0" + ("." + "0" * decimals if decimals > 0 else "") + tail
    return format_percent(float(share), format=pattern, locale=locale(lang), decimal_quantization=True)


# -- Plotly: dates in the language's CLDR formats, drawn by Plotly's d3 formatter ------------------------------------
# CLDR pattern fields -> d3-time-format directives (the fields the skeletons used below can produce).
_D3_FIELDS = {
    "y": "%Y", "yyyy": "%Y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "M": "%-m", "LLL": "%b", "dd": "%d", "d": "%-d",
    "EEEE": "%A", "EEE": "%a", "E": "%a", "HH": "%H", "H": "%-H", "mm": "%M", "ss": "%S",
}  # fmt: skip


def d3_date(skeleton: str, lang: str = "fr") -> str:
    """The d3 time format of a CLDR skeleton in the language's locale, e.g. "yMMMd" -> "%-d %b %Y"."""
    pattern = parse_pattern(locale(lang).datetime_skeletons[skeleton].pattern)
    return pattern.format % _D3_FIELDS


def plotly_locale(lang: str = "fr") -> dict:
    """Plotly config (`locale`, `locales`) giving its date and number formatter the CLDR month and day names and the
    separators of the language, so that "%b" reads "nov." in French."""
    loc = locale(lang)
    months, days = loc.months["format"], loc.days["format"]
    week = [6, 0, 1, 2, 3, 4, 5]  # d3 weeks start on Sunday, CLDR's day indexes on Monday
    name = f"mm-{lang}"
    separators = plotly_separators(lang)
    return {
        "locale": name,
        "locales": {
            name: {
                "format": {
                    "days": [days["wide"][k] for k in week],
                    "shortDays": [days["abbreviated"][k] for k in week],
                    "months": [months["wide"][k] for k in range(1, 13)],
                    "shortMonths": [months["abbreviated"][k] for k in range(1, 13)],
                    "date": d3_date("yMd", lang),
                    "decimal": separators[0],
                    "thousands": separators[1],
                }
            }
        },
    }
