"""The alert workflow's SQL functions (migration 0010) as the dashboard's read-only role calls them: each action
appends exactly one alert_events row; refusals (another actor's acknowledgement, a closed alert, bad input, an
unknown alert or silence, a silence already over) have their SQLSTATE and append nothing; the role writes no table
directly and the history is append-only even for the owner."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import psycopg2
import pytest

from db.migrate import MIGRATIONS_DIR, migrate
from ingestion.catalogue import SENSORS
from tests.support.services import wait_for

SID = next(s.sensor_id for s in SENSORS if s.kind == "air_quality")


@pytest.fixture
def reader(pg_cluster, db_name):
    connection = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    connection.autocommit = True
    yield connection
    connection.close()


def new_alert(conn, *, closed: bool = False, metric: str = "pm10") -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO alerts (sensor_id, metric, kind, severity, value, threshold, message, closed_at) "
            "VALUES (%s, %s, 'threshold', 'critical', 91, 80, 'PM10 > 80', CASE WHEN %s THEN now() END) "
            "RETURNING alert_id",
            (SID, metric, closed),
        )
        return cur.fetchone()[0]


def call(conn, statement: str, *params):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchone()[0]


def event_count(conn) -> int:
    return call(conn, "SELECT count(*) FROM alert_events")


def last_event(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT alert_id, sensor_id, metric, actor, action, severity, comment, details FROM alert_events "
            "ORDER BY event_id DESC LIMIT 1"
        )
        return cur.fetchone()


def refused(conn, sqlstate: str, statement: str, *params) -> str:
    """The call fails with `sqlstate` and appends no event; returns the message."""
    before = event_count(conn)
    with pytest.raises(psycopg2.Error) as caught:
        call(conn, statement, *params)
    assert caught.value.pgcode == sqlstate, caught.value.pgerror
    assert event_count(conn) == before
    return caught.value.pgerror


def one_event(conn, statement: str, *params):
    """The call succeeds and appends exactly one event; returns (result, that event)."""
    before = event_count(conn)
    result = call(conn, statement, *params)
    assert event_count(conn) == before + 1
    return result, last_event(conn)


ACK = "SELECT acknowledge_alert(%s, %s, %s)"


def test_acknowledge_once_per_actor_never_over_another(conn, reader):
    alert_id = new_alert(conn)
    found, event = one_event(reader, ACK, alert_id, "  marie@example.org ", "vu")
    assert found is True
    assert event == (alert_id, SID, "pm10", "marie@example.org", "acknowledged", "critical", "vu", {})
    # the same actor again: allowed, the comment updated, acknowledged_at kept, one more event
    first_at = call(conn, "SELECT acknowledged_at FROM alerts WHERE alert_id = %s", alert_id)
    assert one_event(reader, ACK, alert_id, "marie@example.org", "équipe prévenue")[0] is True
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_at, acknowledged_by, ack_comment FROM alerts WHERE alert_id = %s", (alert_id,))
        assert cur.fetchone() == (first_at, "marie@example.org", "équipe prévenue")
    # someone else: refused, nothing changed
    message = refused(reader, "MA002", ACK, alert_id, "paul", "c'est moi")
    assert "already acknowledged by marie@example.org" in message
    assert call(conn, "SELECT acknowledged_by FROM alerts WHERE alert_id = %s", alert_id) == "marie@example.org"
    # no such alert: false, as in migration 0003
    assert call(reader, ACK, 10**12, "paul", None) is False


def test_concurrent_acknowledgements_one_wins(pg_cluster, db_name, conn):
    """The function locks the alert: the second acknowledger waits for the first and is then refused."""
    alert_id = new_alert(conn)
    first = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    second = psycopg2.connect(pg_cluster.url(db_name, user="madinina_reader"))
    second.autocommit = True
    outcome: list = []

    def acknowledge_second():
        try:
            outcome.append(call(second, ACK, alert_id, "paul", None))
        except psycopg2.Error as exc:
            outcome.append(exc.pgcode)

    try:
        assert call(first, ACK, alert_id, "marie", None) is True  # not committed yet: the row stays locked
        thread = threading.Thread(target=acknowledge_second)
        thread.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'"
        wait_for(lambda: call(conn, waiting, second.get_backend_pid()) == 1, timeout=30, what="second waits")
        first.commit()
        thread.join(30)
        assert outcome == ["MA002"]
    finally:
        first.close()
        second.close()
    assert call(conn, "SELECT acknowledged_by FROM alerts WHERE alert_id = %s", alert_id) == "marie"


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (ACK, ("marie", "x")),
        ("SELECT comment_alert(%s, %s, %s)", ("marie", "trop tard")),
        ("SELECT assign_alert(%s, %s, %s)", ("marie", "paul")),
        ("SELECT resolve_alert(%s, %s, %s)", ("marie", "réparé")),
    ],
)
def test_no_action_on_a_closed_alert(conn, reader, statement, params):
    alert_id = new_alert(conn, closed=True)
    assert "is closed" in refused(reader, "MA001", statement, alert_id, *params)


@pytest.mark.parametrize(
    ("statement", "params", "sqlstate"),
    [
        (ACK, ("   ", None), "22023"),
        (ACK, ("x" * 101, None), "22023"),
        (ACK, ("marie\nparis", None), "22023"),
        (ACK, ("System", None), "22023"),  # the engine's name
        (ACK, (None, None), "22023"),
        (ACK, ("marie", "c" * 2001), "22023"),
        ("SELECT comment_alert(%s, %s, %s)", ("marie", "   "), "22023"),
        ("SELECT comment_alert(%s, %s, %s)", ("marie", None), "22023"),
        ("SELECT assign_alert(%s, %s, %s)", ("marie", "x" * 101), "22023"),
        ("SELECT assign_alert(%s, %s, %s)", ("marie", None), "22023"),  # nobody to unassign
        ("SELECT resolve_alert(%s, %s, %s)", ("marie", ""), "22023"),
        ("SELECT resolve_alert(%s, %s, %s)", ("", "réparé"), "22023"),
    ],
)
def test_bad_input_is_refused(conn, reader, statement, params, sqlstate):
    alert_id = new_alert(conn)
    refused(reader, sqlstate, statement, alert_id, *params)
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_at, assignee, closed_at FROM alerts WHERE alert_id = %s", (alert_id,))
        assert cur.fetchone() == (None, None, None)


def test_unknown_alert(reader):
    refused(reader, "P0002", "SELECT comment_alert(%s, %s, %s)", 10**12, "marie", "x")
    refused(reader, "22023", "SELECT resolve_alert(%s, %s, %s)", None, "marie", "x")


def test_comment_assign_resolve_each_one_event(conn, reader):
    alert_id = new_alert(conn)
    _, event = one_event(reader, "SELECT comment_alert(%s, %s, %s)", alert_id, "paul", "<b>je regarde</b>")
    assert event[3:7] == ("paul", "commented", "critical", "<b>je regarde</b>")
    _, event = one_event(reader, "SELECT assign_alert(%s, %s, %s)", alert_id, "paul", " Marie ")
    assert event[3:5] == ("paul", "assigned") and event[7] == {"assignee": "Marie", "previous": None}
    _, event = one_event(reader, "SELECT assign_alert(%s, %s, %s, %s)", alert_id, "marie", "Jo", "relève")
    assert event[3:5] == ("marie", "assigned") and event[7] == {"assignee": "Jo", "previous": "Marie"}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT assignee, assigned_by, assigned_at IS NOT NULL FROM alerts WHERE alert_id = %s", (alert_id,)
        )
        assert cur.fetchone() == ("Jo", "marie", True)
    _, event = one_event(reader, "SELECT assign_alert(%s, %s, %s)", alert_id, "marie", "")
    assert event[4] == "unassigned" and event[7] == {"assignee": None, "previous": "Jo"}
    _, event = one_event(reader, "SELECT resolve_alert(%s, %s, %s)", alert_id, "marie", "capteur remplacé")
    assert event[3:7] == ("marie", "resolved", "critical", "capteur remplacé")
    assert event[7] == {"value": 91.0, "threshold": 80.0}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT closed_at IS NOT NULL, resolved_by, resolution FROM alerts WHERE alert_id = %s", (alert_id,)
        )
        assert cur.fetchone() == (True, "marie", "capteur remplacé")
    refused(reader, "MA001", "SELECT comment_alert(%s, %s, %s)", alert_id, "paul", "encore")


SILENCE = "SELECT create_silence(%s, %s, %s, %s, %s)"


def test_silences_created_checked_and_lifted(conn, reader):
    silence_id, event = one_event(reader, SILENCE, "marie", SID, "pm10", timedelta(hours=2), "étalonnage")
    assert event[:7] == (None, SID, "pm10", "marie", "silenced", None, "étalonnage")
    assert event[7]["silence_id"] == silence_id
    assert call(conn, "SELECT alert_silenced(%s, 'pm10', now() + interval '1 hour')", SID) is True
    assert call(conn, "SELECT alert_silenced(%s, 'no2', now() + interval '1 hour')", SID) is False
    assert call(conn, "SELECT alert_silenced(%s, 'pm10', now() + interval '3 hours')", SID) is False
    whole, event = one_event(reader, SILENCE, "marie", SID, None, timedelta(days=1), "travaux")
    assert event[2] is None
    assert call(conn, "SELECT alert_silenced(%s, NULL, now() + interval '3 hours')", SID) is True  # offline too
    # lift: ends now, one event; a second lift is refused
    _, event = one_event(reader, "SELECT lift_silence(%s, %s, %s)", whole, "paul", "travaux finis")
    assert event[3:5] == ("paul", "unsilenced") and event[7]["silence_id"] == whole
    assert call(conn, "SELECT alert_silenced(%s, NULL, now() + interval '3 hours')", SID) is False
    with conn.cursor() as cur:
        cur.execute("SELECT lifted_by, lifted_at IS NOT NULL, ends_at <= now() FROM alert_silences "
                    "WHERE silence_id = %s", (whole,))  # fmt: skip
        assert cur.fetchone() == ("paul", True, True)
    refused(reader, "MA003", "SELECT lift_silence(%s, %s, %s)", whole, "paul", None)
    refused(reader, "P0002", "SELECT lift_silence(%s, %s, %s)", 10**12, "paul", None)


def test_a_planned_silence_can_be_cancelled_before_it_starts(conn, reader):
    planned = call(
        reader,
        "SELECT create_silence(%s, %s, NULL, %s, %s, now() + interval '1 day')",
        "marie",
        SID,
        timedelta(hours=4),
        "maintenance prévue",
    )
    assert call(conn, "SELECT alert_silenced(%s, 'pm10', now())", SID) is False
    assert call(conn, "SELECT alert_silenced(%s, 'pm10', now() + interval '1 day 1 hour')", SID) is True
    one_event(reader, "SELECT lift_silence(%s, %s, %s)", planned, "marie", None)
    assert call(conn, "SELECT alert_silenced(%s, 'pm10', now() + interval '1 day 1 hour')", SID) is False


@pytest.mark.parametrize(
    ("params", "sqlstate"),
    [
        (("marie", "no-such-sensor", None, timedelta(hours=1), "x"), "P0002"),
        (("marie", SID, "no_such_metric", timedelta(hours=1), "x"), "P0002"),
        (("marie", SID, None, timedelta(seconds=30), "x"), "22023"),
        (("marie", SID, None, timedelta(days=31), "x"), "22023"),
        (("marie", SID, None, timedelta(hours=-1), "x"), "22023"),
        (("marie", SID, None, None, "x"), "22023"),
        (("marie", SID, None, timedelta(hours=1), "  "), "22023"),
        (("system", SID, None, timedelta(hours=1), "x"), "22023"),
    ],
)
def test_bad_silences_are_refused(conn, reader, params, sqlstate):
    refused(reader, sqlstate, SILENCE, *params)
    assert call(conn, "SELECT count(*) FROM alert_silences") == 0


def test_silence_start_bounds(reader):
    statement = "SELECT create_silence(%s, %s, NULL, %s, %s, now() + %s)"
    refused(reader, "22023", statement, "marie", SID, timedelta(hours=1), "x", timedelta(hours=-1))
    refused(reader, "22023", statement, "marie", SID, timedelta(hours=1), "x", timedelta(days=31))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE alerts SET acknowledged_by = 'x'",
        "UPDATE alerts SET closed_at = now()",
        "INSERT INTO alert_events (sensor_id, actor, action) VALUES ('s', 'x', 'silenced')",
        "DELETE FROM alert_events",
        "UPDATE alert_silences SET ends_at = now()",
        "INSERT INTO alert_silences (sensor_id, starts_at, ends_at, reason, created_by) "
        "VALUES ('s', now(), now(), 'r', 'x')",
        "UPDATE alert_notifications SET state = 'delivered'",
        "SELECT alert_lock_open(1)",
        "SELECT alert_check_name('x', 'y')",
    ],
)
def test_the_reader_writes_nothing_directly(conn, reader, statement):
    new_alert(conn)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        call(reader, statement)


def test_history_is_append_only_even_for_the_owner(conn, reader):
    alert_id = new_alert(conn)
    call(reader, ACK, alert_id, "marie", None)
    for statement in (
        "UPDATE alert_events SET actor = 'x'",
        "DELETE FROM alert_events",
        "TRUNCATE alert_events CASCADE",
    ):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="append-only"), conn.cursor() as cur:
            cur.execute(statement)
    assert call(conn, "SELECT actor FROM alert_events WHERE alert_id = %s", alert_id) == "marie"


def test_the_migration_gave_existing_alerts_their_history(pg_cluster, tmp_path):
    """Alerts that existed before 0010 get historic opened / acknowledged / closed events."""
    url = pg_cluster.url(pg_cluster.fresh_database(migrated=False))
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0010":
            shutil.copy(path, tmp_path / path.name)
    migrate(url, tmp_path)
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute(
            "INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, closed_at, acknowledged_at, "
            "acknowledged_by, ack_comment) VALUES "
            "(%s, 'pm10', 'threshold', 'warning', now() - interval '2 hours', now() - interval '1 hour', "
            "now() - interval '90 minutes', 'ops', 'vu'), (%s, 'no2', 'threshold', 'critical', now(), NULL, "
            "NULL, NULL, NULL)",
            (SID, SID),
        )
    c.close()
    migrate(url)
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("SELECT metric, action, actor, comment, historic FROM alert_events ORDER BY event_id")
        assert cur.fetchall() == [
            ("pm10", "opened", "system", None, True),
            ("pm10", "acknowledged", "ops", "vu", True),
            ("pm10", "closed", "system", None, True),
            ("no2", "opened", "system", None, True),
        ]
        cur.execute("SELECT count(*) FROM alert_notifications")
        assert cur.fetchone()[0] == 0
    c.close()
