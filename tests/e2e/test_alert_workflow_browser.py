"""The alert workflow in the real app in headless Chromium. On the Live page, as the current actor (here the
embedded demo's operator, which the page says is unauthenticated, next to the forms; there is no name box):
acknowledge with a comment, resolve with a reason, silence a sensor for maintenance — each recorded in the database
with its history row, and shown in the feed, the silences and the history table; the Sensor page shows the same
history. (Viewers and operators behind a real login: the OIDC browser test.)"""

from urllib.parse import urlencode

import pytest

from tests.support.app import dashboard
from tests.support.browser import full_screenshot, no_raw_labels, no_traceback
from tests.support.page_seed import FDF_AQ, seed_alerts, seed_history
from tests.support.services import free_port

pytestmark = pytest.mark.e2e


def test_acknowledge_resolve_and_silence_in_the_browser(db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=1)
    seed_alerts(conn, FDF_AQ[0])
    with conn.cursor() as cur:
        cur.execute("SELECT alert_id FROM alerts WHERE metric = 'pm10'")
        critical = cur.fetchone()[0]
    with dashboard(db_url, free_port(), logs / "dashboard-alert-workflow.log") as url:
        # refresh off: nothing re-renders under the clicks on a busy machine
        page.goto(f"{url}/?{urlencode({'sensor': FDF_AQ[0], 'range': '1h', 'refresh': '0'})}")  # Live: the default
        page.get_by_text("Actions non authentifiées").wait_for(timeout=60_000)
        assert page.get_by_role("textbox", name="Votre nom").count() == 0
        submit = page.locator('[data-testid="stFormSubmitButton"] button')

        comment = page.get_by_role("textbox", name="Commentaire (facultatif)")
        comment.fill("Capteur vérifié sur place", timeout=90_000)  # widgets load lazily: slow on a busy machine
        submit.filter(has_text="Acquitter").click()
        page.get_by_text(f"Alerte n° {critical} acquittée par demo").wait_for(timeout=30_000)

        page.locator('[data-testid="stButtonGroup"] button', has_text="Résoudre").click()
        page.get_by_role("textbox", name="Motif de la résolution").fill("Filtre remplacé")
        submit.filter(has_text="Résoudre l'alerte").click()
        page.get_by_text(f"Alerte n° {critical} résolue par demo").wait_for(timeout=30_000)

        page.get_by_role("tab", name="Silences (maintenance)").click()
        page.get_by_role("textbox", name="Motif (obligatoire)").fill("Étalonnage annuel")
        submit.filter(has_text="Mettre en silence").click()
        page.get_by_text("Silence posé sur").wait_for(timeout=30_000)
        page.get_by_text("Silences en cours ou prévus").wait_for(timeout=30_000)
        page.get_by_text("Historique des alertes").first.click()
        with conn.cursor() as cur:
            cur.execute("SELECT alert_id, actor, action, comment FROM alert_events ORDER BY event_id")
            assert cur.fetchall() == [
                (critical, "demo", "acknowledged", "Capteur vérifié sur place"),
                (critical, "demo", "resolved", "Filtre remplacé"),
                (None, "demo", "silenced", "Étalonnage annuel"),
            ]
            cur.execute("SELECT resolved_by, resolution, closed_at IS NOT NULL FROM alerts WHERE alert_id = %s",
                        (critical,))  # fmt: skip
            assert cur.fetchone() == ("demo", "Filtre remplacé", True)
        no_traceback(page)
        no_raw_labels(page)
        full_screenshot(page, shots / "live-alert-workflow.png")

        page.goto(f"{url}/sensor?{urlencode({'sensor_id': FDF_AQ[0], 'range': '1h', 'refresh': '0'})}")
        page.get_by_text("Historique des alertes de ce capteur (3 actions)").wait_for(timeout=60_000)
        page.get_by_text("Silences en cours ou prévus").wait_for(timeout=30_000)
        no_traceback(page)
        no_raw_labels(page)
