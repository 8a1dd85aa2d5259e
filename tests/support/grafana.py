"""Grafana is not obtainable here: this expands the macros of Grafana's PostgreSQL datasource the way Grafana does
(pkg/tsdb/grafana-postgresql-datasource/macros.go, timescaledb off) and its template variables, so that every
panel's SQL can be run against a real database as the role the datasource uses."""

from __future__ import annotations

import re
from datetime import datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")


def _seconds(text: str) -> float:
    text = text.strip().strip("'\"")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * _UNITS[unit]


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(sql: str, *, start: datetime, end: datetime, variables: dict[str, str], interval: str = "1m") -> str:
    """The SQL Grafana would send for a range [start, end] (UTC datetimes) and these variable values."""
    for name in sorted(variables, key=len, reverse=True):  # $metric before $me
        sql = sql.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    sql = sql.replace("$__interval_ms", str(int(_seconds(interval) * 1000))).replace("$__interval", interval)

    def macro(match: re.Match) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        frm, to = _rfc3339(start), _rfc3339(end)
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name == "timeFilter":
            return f"{args[0]} BETWEEN '{frm}' AND '{to}'"
        if name == "timeFrom":
            return f"'{frm}'"
        if name == "timeTo":
            return f"'{to}'"
        if name in ("timeGroup", "timeGroupAlias"):
            step = _seconds(args[1])
            step_text = f"{step:g}"
            out = f"floor(extract(epoch from {args[0]})/{step_text})*{step_text}"
            return out + (' AS "time"' if name == "timeGroupAlias" else "")
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        raise ValueError(f"macro $__{name} is not expanded by this test helper")

    expanded = _MACRO.sub(macro, sql)
    if "$" in re.sub(r"'[^']*'", "", expanded):
        raise ValueError(f"unexpanded variable or macro left in: {expanded}")
    return expanded
