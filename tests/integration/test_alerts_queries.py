"""Alerts reads (feed, counts, distribution, history, silences) and the alert actions, on real PostgreSQL as the
dashboard's read-only role: each refusal of the SQL functions arrives as ActionRefused with its reason."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import alerts, live
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
    counts = live.open_alerts_of(live.kpis(engine)).set_index("severity")
    assert counts["open_alerts"].to_dict() == {"critical": 1, "warning": 1, "info": 1}
    assert counts["unacknowledged"].to_dict() == {"critical": 1, "warning": 0, "info": 1}
    only_aq2 = live.open_alerts_of(live.kpis(engine, sensor_ids=(AQ2,))).set_index("severity")["open_alerts"].to_dict()
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
    assert alerts.acknowledge(engine, alert_id=ids[0], actor="  Marie-Josée ", comment="Capteur nettoyé") is True
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_by, ack_comment, acknowledged_at IS NOT NULL FROM alerts WHERE alert_id = %s",
                    (ids[0],))  # fmt: skip
        assert cur.fetchone() == ("Marie-Josée", "Capteur nettoyé", True)
    assert live.open_alerts_of(live.kpis(engine)).set_index("severity").loc["critical", "unacknowledged"] == 0
    assert alerts.acknowledge(engine, alert_id=10**9, actor="x", comment=None) is False


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (lambda e, ids: alerts.acknowledge(e, alert_id=ids[0], actor="   "), "invalid"),
        (lambda e, ids: alerts.acknowledge(e, alert_id=ids[0], actor="x", comment="y" * 2001), "invalid"),
        (lambda e, ids: alerts.acknowledge(e, alert_id=ids[1], actor="paul"), "acknowledged_by_other"),  # "ops"'s
        (lambda e, ids: alerts.comment(e, alert_id=ids[2], actor="paul", comment="x"), "closed"),
        (lambda e, ids: alerts.resolve(e, alert_id=10**9, actor="paul", reason="x"), "not_found"),
        (lambda e, ids: alerts.lift_silence(e, silence_id=10**9, actor="paul"), "not_found"),
        (
            lambda e, ids: alerts.silence(e, actor="p", sensor_id=AQ1, metric=None, duration=timedelta(0), reason="x"),
            "invalid",
        ),
    ],
)
def test_refusals_arrive_with_their_reason(seeded, action, reason):
    engine, ids = seeded
    with pytest.raises(alerts.ActionRefused) as caught:
        action(engine, ids)
    assert caught.value.reason == reason and caught.value.detail


def test_the_role_cannot_write_otherwise(seeded):
    engine, _ = seeded
    with pytest.raises(sa.exc.ProgrammingError), engine.begin() as c:  # no direct write for the dashboard role
        c.execute(sa.text("UPDATE alerts SET ack_comment = 'x'"))


def test_actions_and_their_history(seeded):
    engine, ids = seeded
    alerts.comment(engine, alert_id=ids[0], actor="paul", comment="je regarde")
    alerts.assign(engine, alert_id=ids[0], actor="paul", assignee="Marie")
    alerts.resolve(engine, alert_id=ids[3], actor="marie", reason="faux positif")
    sid = alerts.silence(engine, actor="marie", sensor_id=LAM, metric="pm10", duration=timedelta(hours=2),
                         reason="étalonnage")  # fmt: skip
    history = alerts.events(engine)
    assert history["action"].tolist() == ["silenced", "resolved", "assigned", "commented"]
    assert history["actor"].tolist() == ["marie", "marie", "paul", "paul"]
    assert history.iloc[0]["sensor_name"].startswith("Qualité de l'air – Le Lamentin") and pd.isna(
        history.iloc[0]["alert_id"]
    )
    assert history.iloc[2]["details"] == {"assignee": "Marie", "previous": None}
    assert history.iloc[1]["kind"] == "anomaly" and history.iloc[1]["comment"] == "faux positif"
    assert alerts.events(engine, sensor_ids=(LAM,))["action"].tolist() == ["silenced"]
    assert alerts.events(engine, limit=1)["action"].tolist() == ["silenced"]
    feed = alerts.feed(engine).set_index("alert_id")
    assert feed.loc[ids[0], "assignee"] == "Marie" and not feed["silenced"].any()
    # an open alert under a silence is shown silenced at once (before the engine's next tick marks it)
    alerts.silence(engine, actor="paul", sensor_id=AQ1, metric="pm10", duration=timedelta(hours=1), reason="test")
    silenced = alerts.feed(engine, now=datetime.now(UTC) + timedelta(minutes=1)).set_index("alert_id")["silenced"]
    assert silenced.to_dict() == {ids[0]: True, ids[1]: False, ids[3]: False}  # ids[3]: AQ1 no2, resolved above
    active = alerts.silences(engine, sensor_ids=(LAM,))
    assert active[["silence_id", "sensor_id", "metric", "reason", "created_by", "active"]].values.tolist() == [
        [sid, LAM, "pm10", "étalonnage", "marie", True]
    ]
    assert alerts.silences(engine, now=datetime.now(UTC) + timedelta(hours=3)).empty
    assert alerts.silences(engine, sensor_ids=(AQ2,)).empty
    alerts.lift_silence(engine, silence_id=sid, actor="paul")
    assert alerts.silences(engine, sensor_ids=(LAM,)).empty


def test_actions_with_database_down():
    engine = make_engine("postgresql://madinina_reader@127.0.0.1:9/madinina")
    with pytest.raises(DatabaseUnavailable):
        alerts.acknowledge(engine, alert_id=1, actor="x", comment=None)
    with pytest.raises(DatabaseUnavailable):
        alerts.silence(engine, actor="x", sensor_id="s", metric=None, duration=timedelta(hours=1), reason="r")
