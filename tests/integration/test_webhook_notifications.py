"""Webhook notifications end to end: the real alerts engine on real PostgreSQL, the outbox, the notifier and a real
HTTP receiver started by the test. Reconciled with what the receiver got (its own count), never with the
notifier's report: open -> escalate -> resolve = three notifications, each once; retries after failures deliver
each once; silenced and historic alerts deliver none; a restart does not re-send; a crash between the answer and
the mark re-sends that one event only (same idempotency key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg2
import pytest

from ingestion.alerts import evaluate
from ingestion.catalogue import SENSORS
from ingestion.cli_common import AlertsTicker
from ingestion.notify import Notifier, WebhookConfig
from ingestion.writer import Writer
from tests.support.services import wait_for
from tests.support.webhook import webhook_receiver

SENSOR = next(s for s in SENSORS if s.kind == "air_quality")
SID = SENSOR.sensor_id


@pytest.fixture
def receiver():
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def writer_url(pg_cluster, db_name):
    return pg_cluster.url(db_name, user="madinina_writer")


@pytest.fixture
def engine_conn(writer_url):
    connection = psycopg2.connect(writer_url)
    yield connection
    connection.close()


def config(receiver, **overrides) -> WebhookConfig:
    base = {"url": receiver.url, "backoff_s": 0.01, "backoff_max_s": 0.05, "dashboard_url": "http://dash.example"}
    return WebhookConfig(**(base | overrides))


def reading(db_url, value: float, metric: str = "pm10") -> None:
    """One reading now (the engine evaluates at the database's clock: live events, not historic)."""
    frame = pd.DataFrame(
        {"time": [pd.Timestamp(datetime.now(UTC))], "sensor_id": [SID], "metric": [metric], "value": [value]}
    )
    with Writer(db_url) as writer:
        writer.write(frame)


def step(db_url, conn, value: float) -> None:
    reading(db_url, value)
    evaluate(conn)


def resolve(pg_cluster, db_name, alert_id: int, reason: str) -> None:
    reader = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    with reader, reader.cursor() as cur:
        cur.execute("SELECT resolve_alert(%s, 'marie@example.org', %s)", (alert_id, reason))
    reader.close()


def the_alert(conn) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT alert_id, opened_at FROM alerts WHERE sensor_id = %s AND metric = 'pm10'", (SID,))
        alert_id, opened_at = cur.fetchone()
    return {"alert_id": alert_id, "opened_at": opened_at}


def keys(bodies) -> list[str]:
    return [b["idempotency_key"] for b in bodies]


def test_open_escalate_resolve_three_notifications_once_each(pg_cluster, db_name, db_url, conn, engine_conn,
                                                             writer_url, receiver):  # fmt: skip
    notifier = Notifier(writer_url, config(receiver))
    step(db_url, engine_conn, 65.0)  # warning opens
    step(db_url, engine_conn, 120.0)  # escalates to critical
    step(db_url, engine_conn, 121.0)  # persists: no event
    reading(db_url, 20.0)  # back to normal, then an operator resolves before the engine closes it
    alert = the_alert(conn)
    resolve(pg_cluster, db_name, alert["alert_id"], "filtre changé <b>ok</b>")
    evaluate(engine_conn)  # the condition cleared: nothing reopens
    outcome = notifier.deliver_pending()
    assert (outcome.delivered, outcome.failed, outcome.waiting) == (3, 0, False)
    bodies = receiver.delivered()
    assert receiver.count() == 3
    assert [b["event"] for b in bodies] == ["opened", "escalated", "resolved"]
    assert len(set(keys(bodies))) == 3
    assert [(b["severity"], b["value"], b["threshold"]) for b in bodies] == [
        ("warning", 65.0, 50.0),
        ("critical", 120.0, 80.0),
        ("critical", 121.0, 80.0),
    ]
    for body in bodies:
        assert body["alert_id"] == alert["alert_id"] and body["sensor_id"] == SID and body["metric"] == "pm10"
        assert datetime.fromisoformat(body["opened_at"]) == alert["opened_at"]
        assert body["dashboard_url"] == f"http://dash.example/sensor?sensor_id={SID}"
        assert body["sensor_name"] == SENSOR.name and body["kind"] == "threshold" and body["unit"] == "µg/m³"
        assert body["text"] and body["dashboard_url"] in body["text"]
    assert bodies[2]["actor"] == "marie@example.org" and bodies[2]["reason"] == "filtre changé <b>ok</b>"
    assert "&lt;b&gt;" in bodies[2]["text"] and "<b>" in bodies[2]["message"]  # Slack's escaping in `text` only
    headers = [r["headers"] for r in receiver.requests]
    assert [h["Idempotency-Key"] for h in headers] == keys(bodies)
    notifier.close()
    # a restart re-sends nothing delivered; a new event is sent alone
    restarted = Notifier(writer_url, config(receiver))
    assert restarted.deliver_pending().delivered == 0
    assert receiver.count() == 3
    step(db_url, engine_conn, 70.0)  # a new crossing within the reopen window: the same alert reopens
    assert restarted.deliver_pending().delivered == 1
    assert [b["event"] for b in receiver.delivered()][3:] == ["reopened"]
    restarted.close()


def test_the_engine_closing_an_alert_is_a_notification(db_url, engine_conn, writer_url, receiver):
    notifier = Notifier(writer_url, config(receiver))
    step(db_url, engine_conn, 90.0)
    step(db_url, engine_conn, 10.0)
    notifier.deliver_pending()
    assert [b["event"] for b in receiver.delivered()] == ["opened", "closed"]
    notifier.close()


def test_a_receiver_failing_twice_gets_each_event_exactly_once(db_url, conn, engine_conn, writer_url, receiver):
    receiver.fail_first = 2
    notifier = Notifier(writer_url, config(receiver, attempts=5))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    step(db_url, engine_conn, 10.0)
    outcome = notifier.deliver_pending()
    assert outcome.delivered == 3
    assert receiver.count() == 5  # 2 refused + 3 accepted
    assert [b["event"] for b in receiver.delivered()] == ["opened", "escalated", "closed"]
    assert len(set(keys(receiver.delivered()))) == 3
    with conn.cursor() as cur:
        cur.execute("SELECT state, attempts FROM alert_notifications ORDER BY event_id")
        assert cur.fetchall() == [("delivered", 3), ("delivered", 1), ("delivered", 1)]
    notifier.close()


def test_a_receiver_down_longer_holds_the_queue_in_order(db_url, conn, engine_conn, writer_url, receiver):
    receiver.fail_first = 3
    notifier = Notifier(writer_url, config(receiver, attempts=2, hold=timedelta(0)))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    first = notifier.deliver_pending()
    assert (first.delivered, first.waiting) == (0, True)
    assert receiver.count() == 2 and receiver.delivered() == []  # the escalation waits behind the opening
    second = notifier.deliver_pending()
    assert second.delivered == 2
    assert [b["event"] for b in receiver.delivered()] == ["opened", "escalated"]
    notifier.close()


def test_a_permanent_refusal_is_recorded_and_does_not_block(db_url, conn, engine_conn, writer_url, receiver):
    receiver.fail_first, receiver.fail_status = 1, 400
    notifier = Notifier(writer_url, config(receiver))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    outcome = notifier.deliver_pending()
    assert (outcome.failed, outcome.delivered) == (1, 1)
    assert receiver.count() == 2 and [b["event"] for b in receiver.delivered()] == ["escalated"]
    with conn.cursor() as cur:
        cur.execute("SELECT state, last_error FROM alert_notifications ORDER BY event_id")
        (state, error), delivered = cur.fetchall()
    assert state == "failed" and error.startswith("HTTP 400") and delivered[0] == "delivered"
    notifier.close()


def test_silenced_alerts_deliver_none(pg_cluster, db_name, db_url, conn, engine_conn, writer_url, receiver):
    reader = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    with reader, reader.cursor() as cur:
        cur.execute("SELECT create_silence('marie', %s, NULL, interval '2 hours', 'maintenance')", (SID,))
    reader.close()
    notifier = Notifier(writer_url, config(receiver))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    step(db_url, engine_conn, 10.0)
    notifier.deliver_pending()
    assert receiver.count() == 0
    with conn.cursor() as cur:
        cur.execute("SELECT action, silenced FROM alert_events WHERE alert_id IS NOT NULL ORDER BY event_id")
        assert cur.fetchall() == [("opened", True), ("escalated", True), ("closed", True)]  # recorded all the same
    notifier.close()


def test_severities_not_configured_are_skipped(db_url, engine_conn, writer_url, receiver):
    notifier = Notifier(writer_url, config(receiver, severities=frozenset({"critical"})))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    outcome = notifier.deliver_pending()
    assert (outcome.skipped, outcome.delivered) == (1, 1)
    assert [b["severity"] for b in receiver.delivered()] == ["critical"]
    notifier.close()


def test_historic_and_stale_events_are_never_sent(db_url, conn, engine_conn, writer_url, receiver):
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        db_now = cur.fetchone()[0]
    past = db_now - timedelta(minutes=40)
    frame = pd.DataFrame({"time": [past], "sensor_id": [SID], "metric": ["pm10"], "value": [130.0]})
    with Writer(db_url) as writer:
        writer.write(frame)
    evaluate(engine_conn, now=past + timedelta(seconds=1))  # a backfill evaluating the past: historic
    evaluate(engine_conn, now=past + timedelta(seconds=2), historic=False)  # nothing new: no event
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM alert_notifications")
        assert cur.fetchone()[0] == 0
    # a live event left pending longer than the maximum age (the notifier was off) expires instead of being sent
    evaluate(engine_conn, now=past + timedelta(minutes=20), historic=False)  # the sensor went silent: offline
    with conn.cursor() as cur:
        cur.execute("SELECT e.action FROM alert_notifications n JOIN alert_events e USING (event_id)")
        assert cur.fetchall() == [("opened",)]
    notifier = Notifier(writer_url, config(receiver, max_age=timedelta(minutes=15)))
    assert notifier.deliver_pending().expired == 1
    assert receiver.count() == 0
    notifier.close()


def test_a_crash_between_answer_and_mark_resends_only_that_event(db_url, conn, engine_conn, writer_url, receiver):
    notifier = Notifier(writer_url, config(receiver))
    step(db_url, engine_conn, 65.0)
    step(db_url, engine_conn, 120.0)
    killed = []

    def kill_notifier_connection(body):
        if not killed:  # the first answer: its mark will never commit
            with conn.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (notifier._conn.get_backend_pid(),))
            killed.append(body["idempotency_key"])

    receiver.before_answer = kill_notifier_connection
    with pytest.raises(psycopg2.Error):
        notifier.deliver_pending()
    notifier.close()
    restarted = Notifier(writer_url, config(receiver))
    assert restarted.deliver_pending().delivered == 2
    sent = keys(receiver.delivered())
    assert sent == [killed[0], killed[0], sent[2]] and sent[2] != killed[0]  # the one in flight twice, no more
    restarted.close()


def test_the_ingestion_ticker_notifies_in_the_background(db_url, writer_url, receiver, monkeypatch):
    monkeypatch.setenv("MADININA_WEBHOOK_URL", receiver.url)
    ticker = AlertsTicker(writer_url, every=0.001)
    try:
        reading(db_url, 95.0)
        ticker.maybe_run()
        wait_for(lambda: receiver.count() == 1, timeout=30, what="the opening notified")
        assert receiver.delivered()[0]["event"] == "opened"
    finally:
        ticker.close()
