"""Grafana provisioning (deploy/grafana/), verified without Grafana: every panel's SQL, with Grafana's macros and
template variables expanded for a fixed range, runs as the datasource's read-only role against a seeded database
and returns the columns its panel expects, with rows; the variables' own queries run the same way."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import yaml

from tests.support.archive_seed import seed_history
from tests.support.grafana import expand
from tests.support.page_seed import FDF_AQ, seed_alerts, seed_pipeline

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
CHOSEN = {"metric": "temperature", "commune": "Fort-de-France"}  # values a user picks among the variable's options

# (dashboard uid, panel id) -> the columns the panel is drawn from.
COLUMNS = {
    ("madinina-live", 1): ["online", "stale", "offline"],
    ("madinina-live", 2): ["severity", "open_alerts", "unacknowledged"],
    ("madinina-live", 3): ["time", "readings_per_s"],
    ("madinina-live", 4): ["metric", "unit", "mean", "min", "max", "sensors", "latest"],
    ("madinina-live", 5): ["sensor_id", "name", "commune", "kind", "last_seen", "status"],
    ("madinina-live", 6): ["time", "metric", "value"],
    ("madinina-live", 7): ["opened_at", "severity", "kind", "sensor_id", "metric", "value", "message",
                           "acknowledged_by"],
    ("madinina-trends", 1): ["time", "metric", "value"],
    ("madinina-trends", 2): ["time", "metric", "value"],
    ("madinina-trends", 3): ["time", "min", "mean", "max"],
    ("madinina-trends", 4): ["kind", "severity", "alerts"],
    ("madinina-trends", 5): ["hour", "alerts"],
    ("madinina-trends", 6): ["ok", "warning", "critical", "fault"],
    ("madinina-pipeline", 1): ["stage", "samples", "avg_ms", "min_ms", "max_ms", "p50_ms", "p95_ms", "p99_ms"],
    ("madinina-pipeline", 2): ["time", "metric", "value"],
    ("madinina-pipeline", 3): ["time", "metric", "value"],
    ("madinina-pipeline", 4): ["reason", "messages", "latest"],
    ("madinina-pipeline", 5): ["received_at", "source", "reason", "detail", "payload"],
    ("madinina-pipeline", 6): ["sensor_id", "commune", "last_reading", "age_s", "expected_interval_s"],
    ("madinina-pipeline", 7): ["processor", "received", "stored", "duplicates", "quarantined", "quarantine_repeats"],
    ("madinina-pipeline", 8): ["consumer", "state", "updated_at", "spool_depth", "oldest_unsent_at",
                               "last_commit_at", "last_error"],
}  # fmt: skip


@pytest.fixture
def seeded(pg_cluster, db_name, db_url, conn) -> str:
    """A database with 6 h of history committed through the real writer (raw, windows, ledger), pipeline KPIs,
    quarantined messages, alerts and a consumer heartbeat; returns the read-only role's URL."""
    seed_history(db_url, hours=6, end=time.time() - 60)
    seed_pipeline(conn, datetime.now(UTC))
    seed_alerts(conn, FDF_AQ[0])
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ingest_status (consumer, state, spool_depth, last_commit_at) VALUES ('test', 'running', 0, now())"
        )
    return pg_cluster.url(db_name, user="madinina_reader")


def datasource() -> dict:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "madinina.yaml").read_text())
    return next(d for d in config["datasources"] if d["type"] == "grafana-postgresql-datasource")


def test_the_datasource_is_the_read_only_role_and_every_panel_uses_a_provisioned_one():
    pg = datasource()
    assert pg["user"] == "madinina_reader"
    assert pg["secureJsonData"]["password"] == "${MADININA_READER_PASSWORD}"
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "madinina.yaml").read_text())
    uids = {d["uid"] for d in config["datasources"]}
    titles = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        titles.add(board["uid"])
        for p in board["panels"]:
            assert p["datasource"]["uid"] in uids, (path.name, p["title"])
    assert titles == {"madinina-live", "madinina-trends", "madinina-pipeline"}
    assert {k for k in COLUMNS} == {
        (json.loads(p.read_text())["uid"], panel["id"])
        for p in DASHBOARDS
        for panel in json.loads(p.read_text())["panels"]
        if panel["datasource"]["uid"] == pg["uid"]
    }


def _run(cur, sql: str) -> tuple[list[str], list[tuple]]:
    cur.execute(sql)
    return [c.name for c in cur.description], cur.fetchall()


def test_every_panel_query_runs_as_the_reader_with_its_columns_and_rows(seeded):
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=6)
    pg_uid = datasource()["uid"]
    conn = psycopg2.connect(seeded)
    conn.set_session(readonly=False, autocommit=True)
    checked = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == "madinina_reader"
            for path in DASHBOARDS:
                board = json.loads(path.read_text())
                variables = {}
                for var in board["templating"]["list"]:
                    if var["type"] == "query":
                        _cols, rows = _run(cur, expand(var["query"], start=start, end=end, variables={}))
                        options = [r[0] for r in rows]
                        assert options, (path.name, var["name"])
                        assert CHOSEN[var["name"]] in options, (var["name"], options)
                        variables[var["name"]] = CHOSEN[var["name"]]
                    else:
                        variables[var["name"]] = var["current"]["value"]
                for panel in board["panels"]:
                    if panel["datasource"]["uid"] != pg_uid:
                        continue
                    for target in panel["targets"]:
                        sql = expand(target["rawSql"], start=start, end=end, variables=variables)
                        columns, rows = _run(cur, sql)
                        where = (board["uid"], panel["id"], panel["title"])
                        assert columns == COLUMNS[(board["uid"], panel["id"])], where
                        assert rows, (where, sql)
                        if target["format"] == "time_series":
                            assert columns[0] == "time", where
                            assert all(r[0] is not None for r in rows), where
                        checked += 1
    finally:
        conn.close()
    assert checked == len(COLUMNS)


def test_the_reader_role_cannot_write_through_a_panel(seeded):
    conn = psycopg2.connect(seeded)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM sensor_data")
    finally:
        conn.close()
