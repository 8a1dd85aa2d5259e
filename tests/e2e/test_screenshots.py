"""The screenshot matrix: every page in French and English at 1280 and 1920 px (and the Live page at 768 px), on a
seeded database (tests/support/page_seed.py: history, alerts, pipeline KPIs, quarantine) with the dashboard clock
pinned, saved whole to test-output/screenshots/<page>-<lang>-<width>.png for people to look at. Each picture fails
its test on an exception element, a traceback, an untranslated key, a visible "Page not found" or a clipped KPI
text or multiselect tag."""

from __future__ import annotations

import pytest

from tests.support.app import dashboard
from tests.support.apptest import seeded_pages_db
from tests.support.browser import (
    CONTENT,
    clipped_texts,
    full_screenshot,
    new_context,
    no_raw_labels,
    no_traceback,
    page_url,
    wait_for_content,
)
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
MATRIX = [(page, lang, width) for page in CONTENT for lang in ("fr", "en") for width in (1280, 1920)]
MATRIX += [("live", lang, 768) for lang in ("fr", "en")]


@pytest.fixture(scope="module")
def app(pg_cluster, output_dir):
    url, now = seeded_pages_db(pg_cluster)
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    with dashboard(url, free_port(), logs / "dashboard-screenshots.log", now=now) as base:
        yield base


@pytest.mark.parametrize(("name", "lang", "width"), MATRIX, ids=[f"{p}-{lg}-{w}" for p, lg, w in MATRIX])
def test_page_screenshot(app, browser, output_dir, name, lang, width):
    context = new_context(browser, width=width, height=900, lang=lang)
    page = context.new_page()
    try:
        page.goto(page_url(app, name, f"lang={lang}"))
        wait_for_content(page, name)
        no_traceback(page)
        no_raw_labels(page)
        assert page.get_by_text("Page not found").filter(visible=True).count() == 0
        full_screenshot(page, output_dir / "screenshots" / f"{name}-{lang}-{width}.png")
        assert clipped_texts(page) == [], f"cut at {width} px"
        no_traceback(page)  # nothing broke while the page was redrawn at its full height
    finally:
        context.close()
