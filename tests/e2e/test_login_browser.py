"""Operator identity end to end (DESIGN §9), in headless Chromium: the real app with Streamlit's OIDC login
(`[auth]` in a secrets.toml of the test's own, given with --secrets.files) against a real OpenID Connect provider the
test starts (panva/node-oidc-provider, tests/support/oidc_provider.py) with Keycloak-shaped accounts: roles in the
ID token's `realm_access.roles`.

Not logged in, a visitor reads and is offered no action form; a viewer logs in through the provider's login and
consent pages and still is offered none; after logging out, an operator logs in and, through the Live page's forms,
acknowledges an alert, silences its sensor and resolves the alert. The database records each action under the
operator's verified e-mail from the ID token (not a name typed in a box, never "demo"); the feed, the silences and
the alert history on the Live page and the Sensor page show that identity. Screenshots FR/EN for the docs."""

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
SUBJECT = OPERATOR["email"].lower()  # what the database records: the verified e-mail, lower-cased
SID = FDF_AQ[0]


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


def action_shot(page, heading, path) -> None:
    """The window with `heading` (a text, or a locator) scrolled to its middle: the sidebar's login block (fixed)
    beside what the visitor may do or did (the pictures of the docs)."""
    target = page.get_by_text(heading, exact=True) if isinstance(heading, str) else heading
    target.evaluate("e => e.scrollIntoView({block: 'center'})")
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


def assert_no_action_offered(page) -> None:
    """No form at all: no submit button (acknowledge, comment, assign, resolve, silence, lift), no silence tab,
    no text box (the page's only text boxes are the forms')."""
    wait_idle(page)
    main = page.locator('[data-testid="stMain"]')
    assert main.locator('[data-testid="stFormSubmitButton"]').count() == 0
    assert main.get_by_role("tab", name="Silences (maintenance)").count() == 0
    assert main.get_by_role("textbox").count() == 0
    assert main.get_by_role("button", name=re.compile("Acquitter|Résoudre|Mettre en silence")).count() == 0


def history_rows(page, title: str) -> list[list[str]]:
    """The rows of the alert history table in the expander titled `title` (opened here): the cell texts, which
    the glide grid keeps in a hidden accessible table (its header cells are not `td`)."""
    expander = page.locator('[data-testid="stExpander"]', has_text=title)
    expander.get_by_text(title).first.click()
    table = expander.locator('[data-testid="stDataFrame"]')
    table.wait_for(timeout=60_000)
    rows: list[list[str]] = []

    def filled() -> bool:
        rows[:] = [r for r in ([c.strip() for c in tr.locator("td").all_text_contents()] for tr in
                               table.locator("tr").all()) if any(r)]  # fmt: skip
        return bool(rows)

    wait_for(filled, 30, f"the rows of {title!r}")
    return rows


def test_viewer_cannot_act_operator_acknowledges_silences_resolves_as_themselves(
    pg_cluster, db_url, conn, output_dir, page, tmp_path
):
    require(node_path() is not None, "Node >= 20 with tests/support/oidc installed (scripts/setup.sh dev)")
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=0.5)
    seed_alerts(conn, SID)
    with conn.cursor() as cur:
        cur.execute("SELECT alert_id FROM alerts WHERE severity = 'critical'")
        (critical,) = cur.fetchone()
        cur.execute("SELECT coalesce(max(event_id), 0) FROM alert_events")
        (mark,) = cur.fetchone()

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    with oidc_provider(logs / "oidc", accounts=ACCOUNTS, redirect_uri=redirect_uri) as provider:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(secrets_toml(port, provider))
        args = ("--secrets.files", str(secrets_file))
        with dashboard(db_url, port, logs / "dashboard-login.log", args=args) as url:
            live = f"{url}/?{urlencode({'sensor': SID, 'range': '1h', 'refresh': 0})}"
            page.goto(live, wait_until="domcontentloaded")

            # Not logged in: a viewer. Reads the alerts, is offered no action.
            sidebar(page).get_by_text("Non connecté : lecture seule.").wait_for(timeout=60_000)
            page.get_by_text("connectez-vous (barre latérale) avec un compte opérateur").wait_for(timeout=60_000)
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)  # the feed, to read
            assert_no_action_offered(page)
            no_traceback(page)
            full_screenshot(page, shots / "login-anonymous.png")
            action_shot(page, "Agir sur les alertes", shots / "login-anonymous-actions.png")
            page.get_by_text("English").click()
            sidebar(page).get_by_text("Not logged in: read only.").wait_for(timeout=60_000)
            page.get_by_text("log in (sidebar) with an operator account").wait_for(timeout=60_000)
            assert_no_action_offered(page)
            action_shot(page, "Act on alerts", shots / "login-anonymous-actions-en.png")

            # A viewer (no operator role in realm_access.roles) logs in: still no action.
            log_in(page, "lea")
            page.goto(live, wait_until="domcontentloaded")
            sidebar(page).get_by_text("Léa Lectrice").wait_for(timeout=60_000)
            sidebar(page).get_by_text("Rôle : lecteur (lecture seule)").wait_for()
            page.get_by_text("votre compte a le rôle lecteur").wait_for(timeout=60_000)
            assert_no_action_offered(page)
            no_traceback(page)
            full_screenshot(page, shots / "login-viewer.png")
            action_shot(page, "Agir sur les alertes", shots / "login-viewer-actions.png")
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM alert_events WHERE event_id > %s", (mark,))
                assert cur.fetchone() == (0,), "a visitor or a viewer wrote nothing"

            # Log out (Streamlit, then the provider's RP-initiated logout), back to a visitor.
            sidebar(page).get_by_role("button", name="Se déconnecter").click()
            page.get_by_role("button", name="Yes, sign me out").click(timeout=60_000)
            sidebar(page).get_by_role("button", name="Se connecter").wait_for(timeout=60_000)

            # The operator logs in and acts through the forms: recorded under their verified e-mail.
            log_in(page, "mjo")
            page.goto(live, wait_until="domcontentloaded")
            sidebar(page).get_by_text("Marie-Josée Opératrice").wait_for(timeout=60_000)
            sidebar(page).get_by_text(re.compile("Rôle : opérateur")).wait_for()
            page.get_by_text("Vous agissez en tant que Marie-Josée Opératrice").wait_for(timeout=60_000)
            assert page.get_by_role("textbox", name="Votre nom").count() == 0  # no name to type: the login says it
            submit = page.locator('[data-testid="stFormSubmitButton"] button')

            page.get_by_role("textbox", name="Commentaire (facultatif)").fill("Vérifié sur place", timeout=90_000)
            submit.filter(has_text="Acquitter").click()
            page.get_by_text(f"Alerte n° {critical} acquittée par {OPERATOR['name']}").wait_for(timeout=60_000)
            wait_for(
                lambda: any(c.startswith(f"✔ {SUBJECT}") for c in table_cells(page)),
                30,
                "the feed to show the operator's acknowledgement",
            )
            no_traceback(page)
            full_screenshot(page, shots / "login-operator.png")
            action_shot(page, "Agir sur les alertes", shots / "login-operator-actions.png")

            page.get_by_role("tab", name="Silences (maintenance)").click()
            page.get_by_role("textbox", name="Motif (obligatoire)").fill("Étalonnage annuel")
            submit.filter(has_text="Mettre en silence").click()
            page.get_by_text("Silence posé sur").wait_for(timeout=60_000)
            page.get_by_text("Silences en cours ou prévus").wait_for(timeout=60_000)

            page.get_by_role("tab", name="Alerte", exact=True).click()
            page.locator('[data-testid="stButtonGroup"] button', has_text="Résoudre").click()
            page.get_by_role("textbox", name="Motif de la résolution").fill("Filtre remplacé")
            submit.filter(has_text="Résoudre l'alerte").click()
            page.get_by_text(f"Alerte n° {critical} résolue par {OPERATOR['name']}").wait_for(timeout=60_000)

            with conn.cursor() as cur:
                cur.execute(
                    "SELECT alert_id, actor, action, comment FROM alert_events WHERE event_id > %s ORDER BY event_id",
                    (mark,),
                )
                assert cur.fetchall() == [
                    (critical, SUBJECT, "acknowledged", "Vérifié sur place"),
                    (None, SUBJECT, "silenced", "Étalonnage annuel"),
                    (critical, SUBJECT, "resolved", "Filtre remplacé"),
                ]
                cur.execute("SELECT acknowledged_by, resolved_by FROM alerts WHERE alert_id = %s", (critical,))
                assert cur.fetchone() == (SUBJECT, SUBJECT)
                cur.execute("SELECT created_by, sensor_id, metric FROM alert_silences")
                assert cur.fetchall() == [(SUBJECT, SID, None)]
                cur.execute("SELECT count(*) FROM alert_events WHERE actor = 'demo'")
                assert cur.fetchone() == (0,)

            # The history on the Live page: the three actions, by the operator's identity from the token.
            live_rows = history_rows(page, "Historique des alertes (")
            mine = {r[4].split(" · ")[0]: r[5] for r in live_rows if r[5] != "système"}  # action -> by
            assert mine == {"acquittée": SUBJECT, "mise en silence": SUBJECT, "résolue": SUBJECT}, live_rows
            no_traceback(page)
            history = page.locator('[data-testid="stExpander"]', has_text="Historique des alertes (")
            action_shot(page, history, shots / "login-operator-history.png")

            page.get_by_text("English").click()
            sidebar(page).get_by_text("Role: operator", exact=False).wait_for(timeout=60_000)
            page.get_by_text("You act as Marie-Josée Opératrice").wait_for(timeout=60_000)
            full_screenshot(page, shots / "login-operator-en.png")
            action_shot(page, "Act on alerts", shots / "login-operator-actions-en.png")
            page.get_by_text("Français").click()
            sidebar(page).get_by_text(re.compile("Rôle : opérateur")).wait_for(timeout=60_000)

            # The Sensor page's history says the same.
            page.goto(f"{url}/sensor?{urlencode({'sensor_id': SID, 'range': '1h', 'refresh': 0})}")
            sensor_rows = history_rows(page, "Historique des alertes de ce capteur")
            mine = {r[3].split(" · ")[0]: r[4] for r in sensor_rows if r[4] != "système"}
            assert mine == {"acquittée": SUBJECT, "mise en silence": SUBJECT, "résolue": SUBJECT}, sensor_rows
            no_traceback(page)
