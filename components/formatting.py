"""Numbers and times as people in Martinique read them: decimal comma, dd/MM/yyyy, 24 h, America/Martinique."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

TZ = "America/Martinique"
NARROW_NBSP = "\u202f"


def fmt_number(value: float | None, lang: str = "fr", decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    text = f"{value:,.{decimals}f}"
    if lang == "fr":
        text = text.replace(",", NARROW_NBSP).replace(".", ",")
    return text


def to_local(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(TZ)


def fmt_time(moment: datetime | pd.Timestamp | None, lang: str = "fr", *, with_date: bool = False) -> str:
    if moment is None or pd.isna(moment):
        return "—"
    local = (
        pd.Timestamp(moment).tz_convert(TZ)
        if pd.Timestamp(moment).tzinfo
        else pd.Timestamp(moment).tz_localize("UTC").tz_convert(TZ)
    )
    if with_date:
        return local.strftime("%d/%m/%Y %H:%M:%S" if lang == "fr" else "%Y-%m-%d %H:%M:%S")
    return local.strftime("%H:%M:%S")


def plotly_separators(lang: str) -> str:
    """Plotly's layout.separators: decimal then thousands."""
    return ", " if lang == "fr" else ".,"
