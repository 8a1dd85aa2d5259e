"""Alerts reads and the acknowledgement write, on real PostgreSQL as the dashboard's read-only role."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from data_access import alerts
from data_access.engine import DatabaseUnavailable, make_engine

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)  # 10:00 in Martinique
AQ1, AQ2, LAM = "mq-fdf-aq-01", "mq-fdf-aq-02", "mq-lam-aq-01"

# (sensor, metric, kind, severity, opened_at, closed_at, acknowledged)
SEED = [
    (AQ1, "pm10", "threshold", "critical", NOW - timedelta(minutes=20), None, False),  # opened 09:40 local
    (AQ2, "pm10", "threshold", "warning", NOW - timedelta(hours=2), None, True),  # 08:00 local
    (LAM, None, "offline", "warning", NOW - timedelta(hours=12), NOW - timedelta(hours=1), False),  # 22:00 local
    (AQ1, "no2", "anomaly", "info", NOW - timedelta(hours=11, minutes=30), None, False),  # 22:30 local
    (AQ2, "pm25", "threshold", "critical", NOW - timedelta(days=3), NOW - timedelta(days=2), False),  # old, closed
]


@pytest.fixture
def seeded(pg_cluster, db_name, conn):
    ids = []
    with conn.cursor() as cur:
        for sensor, metric, kind, severity, opened, closed, acked in SEED:
            cur.execute(
                """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at, value,
                                       threshold, message, acknowledged_at, acknowledged_by, ack_comment)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, 1.5, 1.0, 'msg', %s, %s, %s) RETURNING alert_id""",
                (sensor, metric, kind, severity, opened, closed or NOW, closed,
                 NOW if acked else None, "ops" if acked else None, "seen" if acked else None),
            )  # fmt: skip
            ids.append(cur.fetchone()[0])
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine, ids
    engine.dispose()


def test_open_counts_by_severity(seeded):
    engine, _ = seeded
    counts = alerts.open_counts(engine).set_index("severity")
    assert counts["open_alerts"].to_dict() == {"critical": 1, "warning": 1, "info": 1}
    assert counts["unacknowledged"].to_dict() == {"critical": 1, "warning": 0, "info": 1}
    only_aq2 = alerts.open_counts(engine, sensor_ids=(AQ2,)).set_index("severity")["open_alerts"].to_dict()
    assert only_aq2 == {"critical": 0, "warning": 1, "info": 0}


def test_feed_lists_open_first_by_severity_then_recently_closed(seeded):
    engine, ids = seeded
    feed = alerts.feed(engine, now=NOW)
    assert feed["alert_id"].tolist() == [ids[0], ids[1], ids[3], ids[2]]  # old closed alert left out
    assert feed["is_open"].tolist() == [True, True, True, False]
    first = feed.iloc[0]
    assert (first["sensor_name"], first["commune"], first["label_fr"], first["unit"]) == (
        "Qualité de l'air – Fort-de-France Hôtel de Ville",
        "Fort-de-France",
        "PM10 (particules)",
        "µg/m³",
    )
    assert feed.iloc[1]["acknowledged_by"] == "ops"
    assert alerts.feed(engine, now=NOW, sensor_ids=(LAM,))["alert_id"].tolist() == [ids[2]]
    assert len(alerts.feed(engine, now=NOW, limit=2)) == 2


def test_distribution_by_kind_commune_and_martinique_hour(seeded):
    engine, _ = seeded
    dist = alerts.distribution(engine, start=NOW - timedelta(days=1), end=NOW)
    got = {(r.dimension, r.key, r.severity): r.alerts for r in dist.itertuples()}
    assert got == {
        ("kind", "threshold", "critical"): 1,
        ("kind", "threshold", "warning"): 1,
        ("kind", "offline", "warning"): 1,
        ("kind", "anomaly", "info"): 1,
        ("commune", "Fort-de-France", "critical"): 1,
        ("commune", "Fort-de-France", "warning"): 1,
        ("commune", "Fort-de-France", "info"): 1,
        ("commune", "Le Lamentin", "warning"): 1,
        ("hour", "09", "critical"): 1,
        ("hour", "08", "warning"): 1,
        ("hour", "22", "warning"): 1,
        ("hour", "22", "info"): 1,
    }
    assert alerts.distribution(engine, start=NOW - timedelta(days=1), end=NOW, sensor_ids=(LAM,))["alerts"].sum() == 3
    assert alerts.distribution(engine, start=NOW, end=NOW + timedelta(hours=1)).empty


def test_acknowledge_as_the_read_only_role_persists(seeded, conn):
    engine, ids = seeded
    assert alerts.acknowledge(engine, alert_id=ids[0], by="  Marie-Josée ", comment="Capteur nettoyé") is True
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_by, ack_comment, acknowledged_at IS NOT NULL FROM alerts WHERE alert_id = %s",
                    (ids[0],))  # fmt: skip
        assert cur.fetchone() == ("Marie-Josée", "Capteur nettoyé", True)
    assert alerts.open_counts(engine).set_index("severity").loc["critical", "unacknowledged"] == 0
    assert alerts.acknowledge(engine, alert_id=10**9, by="x", comment=None) is False


def test_acknowledge_refuses_bad_input_and_the_role_cannot_write_otherwise(seeded):
    engine, ids = seeded
    with pytest.raises(alerts.AcknowledgeError):
        alerts.acknowledge(engine, alert_id=ids[0], by="   ", comment=None)
    with pytest.raises(alerts.AcknowledgeError):
        alerts.acknowledge(engine, alert_id=ids[0], by="x", comment="y" * 2001)
    with pytest.raises(sa.exc.ProgrammingError), engine.begin() as c:  # no direct write for the dashboard role
        c.execute(sa.text("UPDATE alerts SET ack_comment = 'x'"))


def test_acknowledge_with_database_down():
    engine = make_engine("postgresql://madinina_reader@127.0.0.1:9/madinina")
    with pytest.raises(DatabaseUnavailable):
        alerts.acknowledge(engine, alert_id=1, by="x", comment=None)
