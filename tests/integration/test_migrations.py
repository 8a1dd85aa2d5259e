import psycopg2
import pytest

from db.migrate import MigrationError, discover, migrate

CONTRACT = {
    "sensors": {
        "sensor_id",
        "name",
        "kind",
        "commune",
        "insee",
        "latitude",
        "longitude",
        "expected_interval_s",
        "active",
        "installed_at",
    },
    "metrics": {
        "metric",
        "unit",
        "label_fr",
        "label_en",
        "valid_min",
        "valid_max",
        "warn_low",
        "warn_high",
        "crit_low",
        "crit_high",
    },
    "sensor_data": {"time", "sensor_id", "metric", "value", "status", "ingested_at"},
    "sensor_data_agg": {
        "window_start",
        "window_end",
        "sensor_id",
        "metric",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "n_warning",
        "n_critical",
        "n_fault",
    },
    "sensor_latest": {"sensor_id", "metric", "time", "value", "status"},
    "alerts": {
        "alert_id",
        "sensor_id",
        "metric",
        "kind",
        "severity",
        "opened_at",
        "last_seen_at",
        "closed_at",
        "value",
        "threshold",
        "message",
        "acknowledged_at",
        "acknowledged_by",
        "ack_comment",
    },
    "pipeline_kpi": {"time", "stage", "latency_ms", "rows", "batch_id"},
    "quarantine": {"received_at", "source", "payload", "reason", "detail"},
}


def test_migrations_apply_on_empty_database_and_are_idempotent(pg_cluster):
    name = pg_cluster.fresh_database(migrated=False)
    url = pg_cluster.url(name)
    applied = migrate(url)
    assert applied == [m.path.name for m in discover()]
    assert migrate(url) == []
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table, columns in CONTRACT.items():
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
            assert columns <= {r[0] for r in cur.fetchall()}, table
        cur.execute("SELECT count(*) FROM schema_migrations")
        assert cur.fetchone()[0] == len(discover())


def test_primary_keys_follow_the_contract(conn):
    with conn.cursor() as cur:
        cur.execute(
            """SELECT tc.table_name, array_agg(kcu.column_name::text ORDER BY kcu.ordinal_position)
                 FROM information_schema.table_constraints tc
                 JOIN information_schema.key_column_usage kcu USING (constraint_name, table_name)
                WHERE tc.constraint_type = 'PRIMARY KEY' GROUP BY tc.table_name"""
        )
        keys = dict(cur.fetchall())
    assert keys["sensor_data"] == ["sensor_id", "metric", "time"]
    assert keys["sensor_data_agg"] == ["sensor_id", "metric", "window_start", "window_end"]
    assert keys["sensor_latest"] == ["sensor_id", "metric"]


def test_an_edited_migration_is_refused(pg_cluster, tmp_path):
    name = pg_cluster.fresh_database(migrated=False)
    url = pg_cluster.url(name)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE one (id int);")
    assert migrate(url, folder) == ["0001_one.sql"]
    (folder / "0001_one.sql").write_text("CREATE TABLE one (id bigint);")
    with pytest.raises(MigrationError, match="edited"):
        migrate(url, folder)


def test_a_failing_migration_leaves_nothing_half_applied(pg_cluster, tmp_path):
    url = pg_cluster.url(pg_cluster.fresh_database(migrated=False))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM no_such_table;")
    with pytest.raises(MigrationError, match="0001_bad.sql"):
        migrate(url, folder)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('half'), (SELECT count(*) FROM schema_migrations)")
        assert cur.fetchone() == (None, 0)


def test_reader_role_is_read_only_but_may_acknowledge(pg_cluster, db_name, conn):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO alerts (sensor_id, metric, kind, severity, message) "
            "VALUES ('mq-x', 'pm10', 'threshold', 'warning', 'test') RETURNING alert_id"
        )
        alert_id = cur.fetchone()[0]
    reader = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    reader.autocommit = True
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensors")
        assert cur.fetchone()[0] >= 40
        for statement in (
            "DELETE FROM sensor_data",
            "UPDATE alerts SET message = 'x'",
            "INSERT INTO quarantine (source, payload, reason) VALUES ('a', 'b', 'c')",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
        cur.execute("SELECT acknowledge_alert(%s, %s, %s)", (alert_id, "opératrice", "vu, équipe prévenue"))
        assert cur.fetchone()[0] is True
    reader.close()
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_by, ack_comment, acknowledged_at IS NOT NULL FROM alerts")
        assert cur.fetchone() == ("opératrice", "vu, équipe prévenue", True)


def test_latency_stats_function_as_a_user_types_it(conn):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO pipeline_kpi (stage, latency_ms, rows, batch_id) VALUES "
            "('end_to_end', 10, 5, 'b1'), ('end_to_end', 20, 5, 'b2'), ('end_to_end', 30, 5, 'b3'), "
            "('processor_to_db', 4, 5, 'b1')"
        )
        cur.execute("SELECT * FROM get_pipeline_latency_stats('1 hour'::interval)")
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert rows["end_to_end"] == (3, 20.0, 10.0, 30.0, 20.0, 29.0, 29.8)
    assert rows["processor_to_db"][0] == 1
