"""Sensor names as shown, in the reader's language. A stored name reads "<kind> – <place>" in French (the
catalogue writes it so; an operator may write any text): the shown name takes its kind part from the UI catalogue
(`kind.<kind>`, translated) and keeps the place part exactly as stored. Every page, table, tooltip and widget option
that shows a sensor uses these helpers, so English never shows a French prefix."""

from __future__ import annotations

import pandas as pd

from components.i18n import t

SEPARATOR = " – "


def place(name: object, sensor_id: str = "") -> str:
    """The place part of a stored name: what follows the first " – ", or the whole name when it has none (the
    sensor id when there is no name at all)."""
    if not isinstance(name, str) or not name.strip():
        return sensor_id
    return name.split(SEPARATOR, 1)[1] if SEPARATOR in name else name


def display_name(name: object, kind: object, sensor_id: str = "") -> str:
    """ "<translated kind> – <place as stored>", e.g. "Air quality – Fort-de-France Bishop"."""
    label = t(f"kind.{kind}") if isinstance(kind, str) and kind else ""
    where = place(name, sensor_id)
    return f"{label}{SEPARATOR}{where}" if label and not label.startswith("kind.") else where


def display_names(catalogue: pd.DataFrame) -> dict[str, str]:
    """sensor_id -> display name for a frame with sensor_id, name and kind."""
    if catalogue is None or catalogue.empty:
        return {}
    return {
        row.sensor_id: display_name(row.name, row.kind, row.sensor_id)
        for row in catalogue[["sensor_id", "name", "kind"]].itertuples(index=False)
    }


def place_names(catalogue: pd.DataFrame, *, with_id: bool = False) -> dict[str, str]:
    """sensor_id -> place part (with " (id)" when asked: places repeat across kinds) for compact labels."""
    if catalogue is None or catalogue.empty:
        return {}
    return {
        row.sensor_id: f"{place(row.name, row.sensor_id)} ({row.sensor_id})"
        if with_id
        else place(row.name, row.sensor_id)
        for row in catalogue[["sensor_id", "name"]].itertuples(index=False)
    }


def short_place(name: object, commune: object, sensor_id: str = "") -> str:
    """The place part without its town when the town is shown beside it: "Hôtel de Ville" in Fort-de-France."""
    where = place(name, sensor_id)
    if isinstance(commune, str) and commune and where.startswith(commune + " ") and len(where) > len(commune) + 1:
        return where[len(commune) + 1 :]
    return where
