"""CSV export of exactly the windowed data a page shows.

- ISO-8601 times with the Martinique offset (``2026-11-22T08:15:00-04:00``);
- a header of comment lines (``# key: value``) naming the source, the window, the range and the filters;
- formula-injection-safe: a text cell starting (after spaces) with ``=``, ``+``, ``-``, ``@``, or with a tab, carriage
  return or newline gets a leading ``'`` so that a spreadsheet shows it as text instead of evaluating it (numbers are
  left as numbers); each header line is one quoted cell, so a comma in a filter value cannot open a new cell;
- numbers with a dot and full precision (machine-readable; the file is data, not a report);
- windows never pass the declared end of the range: the last one ends there and says `partial` (true) when it is
  shorter than the window (an in-progress window holds the readings up to the end, none after);
- built only when the user asks for it (a button, then the download button).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from components.formatting import TZ
from components.i18n import t

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
COLUMNS = (
    "window_start",
    "window_end",
    "sensor_id",
    "sensor_name",
    "commune",
    "kind",
    "metric",
    "unit",
    "mean",
    "min",
    "max",
    "count",
    "partial",
)


def safe_cell(value):
    """Neutralise spreadsheet formulas in text cells (OWASP CSV injection); other values pass unchanged."""
    if isinstance(value, str) and (
        value.startswith(DANGEROUS_PREFIXES) or value.lstrip(" ").startswith(DANGEROUS_PREFIXES)
    ):
        return "'" + value
    return value


def iso_local(moment) -> str:
    """ISO-8601 with the Martinique offset, to the second: 2026-11-22T08:15:00-04:00."""
    return pd.Timestamp(moment).tz_convert(TZ).isoformat(timespec="seconds")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def header_lines(info: dict[str, str]) -> list[str]:
    return [f"# {_one_line(key)}: {_one_line(value)}" for key, value in info.items()]


def build_csv(
    series: pd.DataFrame,
    *,
    window_s: int,
    header: dict[str, str],
    end=None,
    catalogue: pd.DataFrame | None = None,
    units: dict[str, str] | None = None,
) -> bytes:
    """The export file: comment header, then one row per (metric, sensor, bucket) of `series` (columns time,
    sensor_id, metric, value, min, max, count), sorted by metric, sensor, time. A bucket reaching past `end` (the
    range's exclusive end, whose readings the series holds) ends at `end` and is marked partial. UTF-8,
    comma-separated."""
    names: dict[str, tuple[str, str, str]] = {}
    if catalogue is not None and not catalogue.empty:
        names = {
            row.sensor_id: (row.name, row.commune, row.kind)
            for row in catalogue[["sensor_id", "name", "commune", "kind"]].itertuples(index=False)
        }
    units = units or {}
    limit = pd.Timestamp(end) if end is not None else None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for line in header_lines(header):
        writer.writerow([line])  # one cell: quoted when it holds a comma or a quote
    writer.writerow(COLUMNS)
    if not series.empty:
        ordered = series.sort_values(["metric", "sensor_id", "time"], kind="stable")
        step = timedelta(seconds=window_s)
        for row in ordered.itertuples(index=False):
            name, commune, kind = names.get(row.sensor_id, ("", "", ""))
            start = pd.Timestamp(row.time)
            stop = start + step if limit is None else min(start + step, limit)
            writer.writerow(
                [
                    safe_cell(v)
                    for v in (
                        iso_local(start),
                        iso_local(stop),
                        row.sensor_id,
                        name,
                        commune,
                        kind,
                        row.metric,
                        units.get(row.metric, ""),
                        float(row.value),
                        float(row.min),
                        float(row.max),
                        int(row.count),
                        "true" if stop < start + step else "false",
                    )
                ]
            )
    return buffer.getvalue().encode("utf-8")


def table_csv(table: pd.DataFrame, *, header: dict[str, str]) -> bytes:
    """Any table a page shows (one row per line, its own columns) under the same rules as build_csv: the comment
    header, ISO-8601 times with the Martinique offset for every datetime column, formula-safe text cells (column
    names included), numbers at full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for line in header_lines(header):
        writer.writerow([line])
    writer.writerow([safe_cell(str(c)) for c in table.columns])
    times = {c for c in table.columns if pd.api.types.is_datetime64_any_dtype(table[c])}
    for row in table.itertuples(index=False):
        writer.writerow(
            [
                ""
                if v is None or (not isinstance(v, str) and pd.isna(v))
                else iso_local(v)
                if c in times
                else safe_cell(v)
                for c, v in zip(table.columns, row, strict=True)
            ]
        )
    return buffer.getvalue().encode("utf-8")


def read_export(payload: bytes | str) -> tuple[dict[str, str], pd.DataFrame]:
    """Parse an export back (header dict, data frame): used by the tests and handy for users' scripts."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    header: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith(("# ", '"# ')):
            cell = next(csv.reader([line]))[0]
            key, _, value = cell[2:].partition(": ")
            header[key] = value
        else:
            body.append(line)
    frame = pd.read_csv(io.StringIO("\n".join(body)), dtype={"sensor_id": str, "metric": str}, keep_default_na=False)
    return header, frame


def signature(*parts: Iterable) -> str:
    return hashlib.sha1(repr(parts).encode("utf-8")).hexdigest()


def export_controls(build, *, view_signature: str, file_name: str, key: str = "csv_export") -> None:
    """A button that builds the file with `build()` (bytes) only when clicked, then the download button. The
    prepared file is kept for this exact view: any change of filters or window drops it."""
    state = st.session_state.get(key)
    if state is not None and state["signature"] != view_signature:
        st.session_state.pop(key, None)
        state = None
        st.caption(t("csv.stale"))
    if st.button(t("csv.prepare"), icon=":material/table_view:", key=f"{key}_prepare"):
        payload = build()
        state = {"signature": view_signature, "payload": payload, "built_at": datetime.now(UTC)}
        st.session_state[key] = state
    if state is not None:
        payload = state["payload"]
        rows = max(0, sum(1 for line in payload.decode("utf-8").splitlines() if not line.startswith("#")) - 1)
        st.caption(t("csv.ready", rows=rows, size=max(1, round(len(payload) / 1024))))
        st.download_button(
            t("csv.download"),
            data=payload,
            file_name=file_name,
            mime="text/csv",
            icon=":material/download:",
            key=f"{key}_download",
            on_click="ignore",
        )
