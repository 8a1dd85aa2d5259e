"""The alert action forms in AppTest on real PostgreSQL (the real sidebar and page files, the dashboard's read-only
role through the SQL functions): the acting identity is components.identity.current_actor() — an authenticated
operator, a viewer (no form), the unauthenticated demo (said next to the forms); acknowledge, comment, assign,
resolve, silence and lift each land in the database and in the history shown on the Live feed and the Sensor page;
refusals are shown, nothing written."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest

from components import identity
from tests.support.apptest import page_runner, restore_shipped_settings
from tests.support.page_seed import FDF_AQ, pinned_now, seed_alerts, seed_history

OPERATOR = identity.Actor(subject="marie@example.org", display="Marie Joseph", role="operator", authenticated=True)
VIEWER = identity.Actor(subject="paul@example.org", display="Paul", role="viewer", authenticated=True)
SID = FDF_AQ[0]
LIVE = {"range": "1h", "sensor": SID}


@pytest.fixture(scope="module")
def module_db(pg_cluster):
    now = pinned_now()
    name = pg_cluster.fresh_database()
    seed_history(pg_cluster.url(name), hours=0.25, now=now)
    return pg_cluster, name, now


@pytest.fixture
def db(module_db):
    """A fresh copy of the alerts for each test: (url, owner connection, {pm10: id, offline: id})."""
    pg_cluster, name, now = module_db
    conn = psycopg2.connect(pg_cluster.url(name))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("UPDATE alerts SET closed_at = coalesce(closed_at, now() - interval '2 days')")
        cur.execute("DELETE FROM alert_silences")
    seed_alerts(conn, SID, now=now)
    with conn.cursor() as cur:
        cur.execute("SELECT kind, alert_id FROM alerts WHERE closed_at IS NULL")
        ids = dict(cur.fetchall())
    yield pg_cluster.url(name), conn, ids
    conn.close()


@pytest.fixture
def run(db, module_db, monkeypatch):
    yield page_runner(db[0], module_db[2], monkeypatch)
    restore_shipped_settings()


def act_as(monkeypatch, actor: identity.Actor) -> None:
    monkeypatch.setattr(identity, "current_actor", lambda: actor)


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def one(conn, sql: str, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def events_since(conn, first_id: int) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT alert_id, actor, action, comment FROM alert_events WHERE event_id > %s ORDER BY event_id",
            (first_id,),
        )
        return cur.fetchall()


def last_event_id(conn) -> int:
    return one(conn, "SELECT coalesce(max(event_id), 0) FROM alert_events")[0]


def test_an_operator_acknowledges_comments_assigns_and_resolves(run, db, monkeypatch):
    _, conn, ids = db
    act_as(monkeypatch, OPERATOR)
    mark = last_event_id(conn)
    at = run("live", LIVE)
    assert not at.exception, [e.message for e in at.exception]
    assert not any("Actions non authentifiées" in c.value for c in at.caption)  # logged in: no notice
    assert not at.text_input, "no name box"
    pm10 = ids["threshold"]
    at.selectbox(key="action_alert_0_fr").set_value(pm10)
    at.text_area(key="action_text_acknowledge_0").input("vu")
    button(at, "Acquitter").click().run()
    assert any("acquittée par Marie Joseph" in s.value for s in at.success), [e.value for e in at.error]

    at.segmented_control(key="alert_action_fr").set_value("comment").run()
    at.selectbox(key="action_alert_1_fr").set_value(pm10)
    at.text_area(key="action_text_comment_1").input("le filtre est encrassé")
    button(at, "Ajouter le commentaire").click().run()
    assert any("Commentaire ajouté" in s.value for s in at.success), [e.value for e in at.error]

    at.segmented_control(key="alert_action_fr").set_value("assign").run()
    at.selectbox(key="action_alert_2_fr").set_value(pm10)
    at.text_input(key="action_assignee_2").input("Équipe Nord")
    button(at, "Assigner").click().run()

    at.segmented_control(key="alert_action_fr").set_value("resolve").run()
    at.selectbox(key="action_alert_3_fr").set_value(pm10)
    at.text_area(key="action_text_resolve_3").input("filtre changé")
    button(at, "Résoudre l'alerte").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert events_since(conn, mark) == [
        (pm10, OPERATOR.subject, "acknowledged", "vu"),
        (pm10, OPERATOR.subject, "commented", "le filtre est encrassé"),
        (pm10, OPERATOR.subject, "assigned", None),
        (pm10, OPERATOR.subject, "resolved", "filtre changé"),
    ]
    assert one(conn, "SELECT assignee, resolved_by, closed_at IS NOT NULL FROM alerts WHERE alert_id = %s", pm10) == (
        "Équipe Nord",
        OPERATOR.subject,
        True,
    )
    # the feed and the history show it
    feed = at.dataframe[0].value.set_index("#")
    assert feed.loc[pm10, "État"].startswith("résolue") and feed.loc[pm10, "Assignée à"] == "Équipe Nord"
    history = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    mine = history[history["Alerte"] == f"#{pm10}"]
    assert mine["Action"].tolist()[:4] == ["résolue", "assignée", "commentée", "acquittée"]
    assert set(mine["Par"].iloc[:4]) == {OPERATOR.subject}
    assert mine["Détail"].iloc[1] == "à Équipe Nord"


def test_a_viewer_gets_no_form(run, monkeypatch):
    act_as(monkeypatch, VIEWER)
    at = run("live", LIVE)
    assert not at.exception
    assert any(c.value.startswith("Lecture seule") for c in at.caption)
    assert not [b for b in at.button if b.label in ("Acquitter", "Mettre en silence", "Lever le silence")]
    assert not at.text_area


def test_the_demo_operator_is_said_unauthenticated_and_recorded_as_demo(run, db):
    _, conn, ids = db
    mark = last_event_id(conn)
    at = run("live", LIVE)
    assert any("Actions non authentifiées" in c.value for c in at.caption)
    at.selectbox(key="action_alert_0_fr").set_value(ids["offline"])
    button(at, "Acquitter").click().run()
    assert events_since(conn, mark) == [(ids["offline"], "demo", "acknowledged", None)]


def test_refusals_are_shown_and_nothing_is_written(run, db, monkeypatch):
    _, conn, ids = db
    act_as(monkeypatch, OPERATOR)
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledge_alert(%s, 'paul@example.org', 'à moi')", (ids["threshold"],))
    mark = last_event_id(conn)
    at = run("live", LIVE)
    at.selectbox(key="action_alert_0_fr").set_value(ids["threshold"])
    button(at, "Acquitter").click().run()
    assert any("déjà acquittée par quelqu'un d'autre" in e.value for e in at.error)
    at.segmented_control(key="alert_action_fr").set_value("resolve").run()
    button(at, "Résoudre l'alerte").click().run()  # no reason
    assert any(e.value == "Indiquez le motif de la résolution." for e in at.error)
    assert events_since(conn, mark) == []
    assert one(conn, "SELECT acknowledged_by FROM alerts WHERE alert_id = %s", ids["threshold"]) == (
        "paul@example.org",
    )


def test_silence_a_metric_then_lift_it(run, db, monkeypatch):
    _, conn, _ = db
    act_as(monkeypatch, OPERATOR)
    at = run("live", LIVE)
    assert at.selectbox(key="silence_sensor").value == SID
    at.selectbox(key=f"silence_metric_{SID}_0_fr").set_value("pm10")
    at.selectbox(key="silence_duration_0_fr").set_value(timedelta(hours=4))
    button(at, "Mettre en silence").click().run()  # no reason: refused
    assert any(e.value == "Indiquez le motif du silence." for e in at.error)
    at.text_area(key="silence_reason_0").input("étalonnage annuel")
    button(at, "Mettre en silence").click().run()
    assert any("Silence posé" in s.value for s in at.success), [e.value for e in at.error]
    silence_id, metric, created_by, length, reason = one(
        conn,
        "SELECT silence_id, metric, created_by, ends_at - starts_at, reason FROM alert_silences "
        "WHERE ends_at > now() ORDER BY silence_id DESC LIMIT 1",
    )
    assert (metric, created_by, length, reason) == ("pm10", OPERATOR.subject, timedelta(hours=4), "étalonnage annuel")
    shown = next(d.value for d in at.dataframe if "Portée" in d.value.columns)
    assert shown["#"].tolist() == [silence_id] and shown["Motif"].tolist() == ["étalonnage annuel"]
    at.selectbox(key="lift_which_1").set_value(silence_id)
    at.text_input(key="lift_comment_1").input("fini plus tôt")
    button(at, "Lever le silence").click().run()
    assert one(conn, "SELECT lifted_by, ends_at <= now() FROM alert_silences WHERE silence_id = %s", silence_id) == (
        OPERATOR.subject,
        True,
    )
    assert one(conn, "SELECT action, comment FROM alert_events ORDER BY event_id DESC LIMIT 1") == (
        "unsilenced",
        "fini plus tôt",
    )


def test_the_sensor_page_shows_the_history_and_offers_the_actions(run, db, monkeypatch):
    _, conn, ids = db
    act_as(monkeypatch, OPERATOR)
    with conn.cursor() as cur:
        cur.execute("SELECT comment_alert(%s, 'paul@example.org', 'vu depuis la carte')", (ids["threshold"],))
        cur.execute("SELECT create_silence('paul@example.org', %s, NULL, interval '1 day', 'travaux')", (SID,))
    at = run("sensor", {"range": "1h", "sensor_id": SID})
    assert not at.exception, [e.message for e in at.exception]
    history = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert history["Action"].tolist()[:2] == ["mise en silence", "commentée"]
    assert history["Détail"].iloc[1] == "vu depuis la carte" and history["Par"].iloc[0] == "paul@example.org"
    silences = next(d.value for d in at.dataframe if "Portée" in d.value.columns)
    assert silences["Portée"].tolist() == ["tout le capteur"] and silences["Motif"].tolist() == ["travaux"]
    assert at.selectbox(key="silence_sensor").options == [SID] or at.selectbox(key="silence_sensor").value == SID
    assert button(at, "Acquitter")
