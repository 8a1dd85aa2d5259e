"""Numbers and times as readers of each language expect them, from CLDR through Babel (never hand-written):
French as written in Martinique (`fr_MQ`: decimal comma, narrow no-break space between thousands, dd/MM/y), English
with British conventions (`en_GB`: 24-hour clock, day first); every time shown in America/Martinique."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
from babel import Locale
from babel.dates import format_datetime, format_time
from babel.numbers import format_decimal

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


def plotly_separators(lang: str) -> str:
    """Plotly's layout.separators (decimal then thousands), taken from the same CLDR locale as fmt_number."""
    symbols = locale(lang).number_symbols["latn"]
    return symbols["decimal"] + symbols["group"]
