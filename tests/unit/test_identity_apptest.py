"""What the sidebar's login block and the notice next to actions show in each mode, in Streamlit's AppTest (secrets
and st.user given to the run): the demo says actions are unauthenticated; with [auth], a visitor and a viewer are
told they cannot act, an operator whom they act as; names from the identity provider are shown as text; an invalid
[madinina.roles] lets nobody act; a failing st.login is reported, not raised."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from components.text import md_escape

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "madinina-dashboard",
    "client_secret": "s",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ROLES = {"claim": "realm_access.roles", "operator_roles": ["madinina-operator"]}


def _app():
    import streamlit as st

    from components import identity

    with st.sidebar:
        identity.login_controls()
    identity.unauthenticated_notice()
    actor = identity.current_actor()
    st.text(f"{actor.subject}|{actor.role}|{actor.authenticated}")


def run(secrets: dict, user: dict | None = None) -> AppTest:
    at = AppTest.from_function(_app, default_timeout=30)
    at.secrets = secrets
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def logged_in(name: str, roles: list[str]) -> dict:
    return {
        "is_logged_in": True,
        "sub": "u-1",
        "iat": time.time() - 60,
        "email": "Someone@Madinina.example",
        "email_verified": True,
        "name": name,
        "realm_access": {"roles": roles},
    }


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_demo_without_auth_says_actions_are_unauthenticated():
    at = run({"connections": {"madinina": {"url": "postgresql://x@127.0.0.1:9/m"}}})
    assert at.text[0].value == "demo|operator|False"
    assert "Démo sans connexion" in texts(at.sidebar.caption)[0]
    assert texts(at.main.caption) == [
        "Actions non authentifiées : aucune connexion n'est configurée (démo embarquée), elles sont enregistrées sous "
        "le nom « demo »."
    ]
    assert not at.sidebar.button  # nothing to log in to


def test_visitor_not_logged_in_reads_only_and_is_offered_the_login():
    at = run({"auth": AUTH, "madinina": {"roles": ROLES}}, {})
    assert at.text[0].value == "|viewer|False"
    assert [b.label for b in at.sidebar.button] == ["Se connecter"]
    assert "Non connecté" in texts(at.sidebar.caption)[0]
    assert "connectez-vous (barre latérale) avec un compte opérateur" in texts(at.main.caption)[0]


def test_viewer_logged_in_cannot_act():
    at = run({"auth": AUTH, "madinina": {"roles": ROLES}}, logged_in("Léa", ["offline_access"]))
    assert at.text[0].value == "someone@madinina.example|viewer|True"
    assert "Léa" in at.sidebar.markdown[0].value
    assert "Rôle : lecteur" in texts(at.sidebar.caption)[0]
    assert [b.label for b in at.sidebar.button] == ["Se déconnecter"]
    assert texts(at.main.caption)[0].startswith("Lecture seule : votre compte a le rôle lecteur")


def test_operator_logged_in_acts_as_themselves_and_names_are_text():
    name = "[Session expirée](https://evil.example) **Chef** <b>x</b>"
    at = run({"auth": AUTH, "madinina": {"roles": ROLES}}, logged_in(name, ["madinina-operator"]))
    assert at.text[0].value == "someone@madinina.example|operator|True"
    shown = at.sidebar.markdown[0].value
    assert r"\[Session expirée\]\(https\:" in shown and r"\*\*Chef\*\*" in shown and r"\<b\>" in shown
    assert "Rôle : opérateur" in texts(at.sidebar.caption)[0]
    assert texts(at.main.caption) == [
        f"Vous agissez en tant que {md_escape(name)} ({md_escape('someone@madinina.example')}) : chaque action est "
        "enregistrée sous cette identité."
    ]


def test_english_labels():
    at = AppTest.from_function(_app, default_timeout=30)
    at.secrets, at.user = {"auth": AUTH, "madinina": {"roles": ROLES}}, logged_in("Mo", ["madinina-operator"])
    at.session_state["lang"] = "en"
    at.run()
    assert at.sidebar.markdown[0].value == "Logged in: **Mo**"
    assert [b.label for b in at.sidebar.button] == ["Log out"]
    assert texts(at.sidebar.caption)[0].startswith("Role: operator")


def test_invalid_roles_settings_let_nobody_act():
    at = run({"auth": AUTH, "madinina": {"roles": {"operator": ["someone@madinina.example"]}}}, logged_in("X", []))
    assert at.text[0].value == "|viewer|False"
    assert "Configuration de connexion illisible" in at.sidebar.error[0].value


def test_a_failing_login_is_reported_not_raised():
    # AppTest's secrets do not reach st.login's own check (Streamlit's secrets file), which refuses: the sidebar
    # says so in a sentence, the details go to the log.
    at = run({"auth": AUTH, "madinina": {"roles": ROLES}}, {})
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert texts(at.sidebar.error) == [
        "Connexion impossible : la section [auth] est incomplète (détails dans le journal du serveur)."
    ]
