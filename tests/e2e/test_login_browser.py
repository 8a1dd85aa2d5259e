"""Operator identity end to end (DESIGN §9), in headless Chromium: the real app with Streamlit's OIDC login
(`[auth]` in a secrets.toml of the test's own, given with --secrets.files) against a real OpenID Connect provider the
test starts (panva/node-oidc-provider, tests/support/oidc_provider.py) with Keycloak-shaped accounts: roles in the
ID token's `realm_access.roles`.

Not logged in, a visitor reads and is offered no action; a viewer logs in through the provider's login and consent
pages and still is offered none; after logging out, an operator logs in and acknowledges an alert; the database
records the operator's verified e-mail (not a name typed in a box) and the feed shows it. Screenshots FR/EN."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

import pytest

from tests.support.app import dashboard
from tests.support.browser import full_screenshot, no_traceback, table_cells
from tests.support.oidc_provider import node_path, oidc_provider
from tests.support.page_seed import FDF_AQ, seed_alerts, seed_history
from tests.support.services import free_port, require, wait_for

pytestmark = pytest.mark.e2e

OPERATOR_ROLE = "madinina-operator"
VIEWER = {
    "email": "lea.lectrice@madinina.example",
    "email_verified": True,
    "name": "Léa Lectrice",
    "preferred_username": "lea",
    "realm_access": {"roles": ["default-roles-madinina", "offline_access"]},
}
OPERATOR = {
    "email": "Marie-Josee.Operatrice@Madinina.example",  # recorded lower-cased
    "email_verified": True,
    "name": "Marie-Josée Opératrice",
    "preferred_username": "mjo",
    "realm_access": {"roles": ["default-roles-madinina", OPERATOR_ROLE]},
}
ACCOUNTS = {"lea": VIEWER, "mjo": OPERATOR}


def secrets_toml(port: int, provider) -> str:
    return f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_urlsafe(32)}"
client_id = "{provider.client_id}"
client_secret = "{provider.client_secret}"
server_metadata_url = "{provider.metadata_url}"
client_kwargs = {{ scope = "openid email profile roles", prompt = "login" }}

[madinina.roles]
claim = "realm_access.roles"
operator_roles = ["{OPERATOR_ROLE}"]
"""


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def wait_idle(page) -> None:
    """Until the script run that drew what was just waited for has finished: what is absent then stays absent."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)


def action_shot(page, heading: str, path) -> None:
    """The window with the alert section scrolled into view: the sidebar's login block (fixed) beside what the
    visitor may do (the picture of the docs)."""
    page.get_by_text(heading, exact=True).evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)  # let the scroll paint before the picture (no assertion depends on it)
    page.screenshot(path=str(path))


def log_in(page, login: str) -> None:
    """Through the provider's own pages: login form, then consent; back in the app once Streamlit's callback has
    set its cookie and sent the browser home."""
    sidebar(page).get_by_role("button", name=re.compile("Se connecter|Log in")).click()
    page.locator('input[name="login"]').wait_for(timeout=60_000)
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("not checked by the dev interactions")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click(timeout=60_000)
    sidebar(page).get_by_role("button", name=re.compile("Se déconnecter|Log out")).wait_for(timeout=60_000)


def test_viewer_cannot_act_operator_acknowledges_as_themselves(pg_cluster, db_url, conn, output_dir, page, tmp_path):
    require(node_path() is not None, "Node >= 20 with tests/support/oidc installed (scripts/setup.sh dev)")
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=0.5)
    seed_alerts(conn, FDF_AQ[0])
    with conn.cursor() as cur:
        cur.execute("SELECT alert_id FROM alerts WHERE severity = 'critical'")
        (critical,) = cur.fetchone()

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    with oidc_provider(logs / "oidc", accounts=ACCOUNTS, redirect_uri=redirect_uri) as provider:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(secrets_toml(port, provider))
        args = ("--secrets.files", str(secrets_file))
        with dashboard(db_url, port, logs / "dashboard-login.log", args=args) as url:
            live = f"{url}/?{urlencode({'sensor': FDF_AQ[0], 'refresh': 0})}"
            page.goto(live, wait_until="domcontentloaded")

            # Not logged in: a viewer. Reads the alerts, is offered no action.
            sidebar(page).get_by_text("Non connecté : lecture seule.").wait_for(timeout=60_000)
            page.get_by_text("connectez-vous (barre latérale) avec un compte opérateur").wait_for(timeout=60_000)
            wait_idle(page)
            assert page.get_by_role("button", name="Acquitter").count() == 0
            assert page.get_by_role("textbox", name="Commentaire").count() == 0
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)  # the feed, to read
            no_traceback(page)
            full_screenshot(page, shots / "login-anonymous.png")
            action_shot(page, "Acquitter une alerte", shots / "login-anonymous-actions.png")
            page.get_by_text("English").click()
            sidebar(page).get_by_text("Not logged in: read only.").wait_for(timeout=60_000)
            page.get_by_text("log in (sidebar) with an operator account").wait_for(timeout=60_000)
            action_shot(page, "Acknowledge an alert", shots / "login-anonymous-actions-en.png")

            # A viewer (no operator role in realm_access.roles) logs in: still no action.
            log_in(page, "lea")
            page.goto(live, wait_until="domcontentloaded")
            sidebar(page).get_by_text("Léa Lectrice").wait_for(timeout=60_000)
            sidebar(page).get_by_text("Rôle : lecteur (lecture seule)").wait_for()
            page.get_by_text("votre compte a le rôle lecteur").wait_for(timeout=60_000)
            wait_idle(page)
            assert page.get_by_role("button", name="Acquitter").count() == 0
            assert page.get_by_role("textbox", name="Commentaire").count() == 0
            no_traceback(page)
            full_screenshot(page, shots / "login-viewer.png")
            action_shot(page, "Acquitter une alerte", shots / "login-viewer-actions.png")

            # Log out (Streamlit, then the provider's RP-initiated logout), back to a visitor.
            sidebar(page).get_by_role("button", name="Se déconnecter").click()
            page.get_by_role("button", name="Yes, sign me out").click(timeout=60_000)
            sidebar(page).get_by_role("button", name="Se connecter").wait_for(timeout=60_000)

            # The operator logs in and acknowledges: recorded under their verified e-mail.
            log_in(page, "mjo")
            page.goto(live, wait_until="domcontentloaded")
            sidebar(page).get_by_text("Marie-Josée Opératrice").wait_for(timeout=60_000)
            sidebar(page).get_by_text(re.compile("Rôle : opérateur")).wait_for()
            page.get_by_text("Vous agissez en tant que Marie-Josée Opératrice").wait_for(timeout=60_000)
            assert page.get_by_role("textbox", name="Votre nom").count() == 0  # no name to type: the login says it
            page.get_by_role("textbox", name="Commentaire").fill("Vérifié sur place")
            page.get_by_role("button", name="Acquitter").click()
            page.get_by_text(re.compile(f"Alerte n° {critical} acquittée par")).wait_for(timeout=60_000)
            with conn.cursor() as cur:
                cur.execute("SELECT acknowledged_by, ack_comment FROM alerts WHERE alert_id = %s", (critical,))
                assert cur.fetchone() == ("marie-josee.operatrice@madinina.example", "Vérifié sur place")
            wait_for(
                lambda: any(c.startswith("✔ marie-josee.operatrice@madinina.example") for c in table_cells(page)),
                30,
                "the feed to show the operator's acknowledgement",
            )
            no_traceback(page)
            full_screenshot(page, shots / "login-operator.png")
            action_shot(page, "Acquitter une alerte", shots / "login-operator-actions.png")

            page.get_by_text("English").click()
            sidebar(page).get_by_text("Role: operator", exact=False).wait_for(timeout=60_000)
            page.get_by_text("You act as Marie-Josée Opératrice").wait_for(timeout=60_000)
            full_screenshot(page, shots / "login-operator-en.png")
            action_shot(page, "Acknowledge an alert", shots / "login-operator-actions-en.png")
