"""The one browser harness of the end-to-end tests and bench/browser.py: Debian's headless Chromium driven by
Playwright (no browser download), pages opened at a chosen width and language, and the checks every browser test
shares (nothing untranslated, no traceback, whole-page screenshots, widgets and cells read as a person sees them)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
# The element whose appearance means "the page shows its content", per page (bench/browser.py times it too).
CONTENT = {
    "live": ['[data-testid="stMetricValue"]', ".js-plotly-plot"],
    "trends": [".js-plotly-plot"],
    "map": ['[data-testid="stDeckGlJsonChart"] canvas'],
    "sensor": ['[data-testid="stMetricValue"]'],
    "pipeline": ['[data-testid="stMetricValue"]'],
}
SHELL = '[data-testid="stSidebar"]'
# The Live page is the app's default page, served at "/" (app.py). Its own path "/live" opens Streamlit's "Page not
# found" dialog on some loads (issue 11, Streamlit's built-in strings): pages are opened at their served URL.
PATHS = {"live": ""}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# A missing i18n key shows itself as 'section.name' on the page.
RAW_KEY = re.compile(
    r"\b(?:map|sensor|pipeline|stage|reason|trends|alerts|live|csv|ack|actions|silence|events|sidebar|severity|age|"
    r"window|kind|status|source|col|page|db|reading|dur|ingest)\.[a-z_]+\b"
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright Browser) from Debian's package; the caller checks chromium_path() first."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def new_context(browser, *, width: int = 1440, height: int = 1000, lang: str = "fr"):
    return browser.new_context(
        viewport={"width": width, "height": height}, locale=LOCALES[lang], timezone_id="America/Martinique"
    )


def page_url(base: str, name: str, query: str = "") -> str:
    return f"{base}/{PATHS.get(name, name)}" + (f"?{query}" if query else "")


def wait_for_content(page, name: str, timeout_ms: int = 60_000) -> None:
    """The page's content is on screen (CONTENT) and its script has finished running."""
    for selector in CONTENT[name]:
        page.locator(selector).first.wait_for(timeout=timeout_ms)
    page.locator(IDLE).wait_for(timeout=timeout_ms)


def no_raw_labels(page) -> None:
    """Every label is translated (page text and chart texts)."""
    text = page.inner_text("body") + " ".join(page.locator("svg text").all_text_contents())
    found = RAW_KEY.search(text)
    assert not found, found.group(0)


def no_traceback(page) -> None:
    assert "Traceback" not in page.content()
    assert page.locator('[data-testid="stException"]').count() == 0


def full_screenshot(page, path) -> None:
    """Streamlit scrolls inside its main container: grow the viewport to the content for a whole-page picture."""
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section.main, .main')]
                 .map(e => e.scrollHeight), document.body.scrollHeight)"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(1200)  # let Plotly redraw at the new size: a picture, not a synchronisation
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def widget(page, testid: str, label: str, *, sidebar: bool = False):
    scope = '[data-testid="stSidebar"] ' if sidebar else '[data-testid="stMain"] '
    return page.locator(f'{scope}[data-testid="{testid}"]', has_text=label)


def selected(page, label: str) -> str:
    """The shown value of a sidebar selectbox."""
    return widget(page, "stSelectbox", label, sidebar=True).locator("input").input_value()


def metric_value(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def table_cells(page, index: int = 0) -> list[str]:
    """The cell texts of the index-th st.dataframe (the glide grid keeps them in a hidden accessible table)."""
    table = page.locator('[data-testid="stDataFrame"]').nth(index)
    deadline = time.monotonic() + 30
    while True:  # the grid fills its cells after it is attached
        cells = [text.strip() for text in table.locator("td").all_text_contents()]
        if any(cells) or time.monotonic() > deadline:
            return cells
        page.wait_for_timeout(250)


# Month abbreviations of the charts' date labels (CLDR, as components.formatting.plotly_locale gives them to Plotly).
MONTHS = {
    "fr": r"(?:janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.)",
    "en": r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept|Oct|Nov|Dec)",
}


def clipped_texts(page) -> list[str]:
    """Texts cut by their box: in the KPI cards (label, value, note) Streamlit ends them with an ellipsis when their
    content is wider than the card (scrollWidth > clientWidth); a multiselect too narrow for its tags scrolls them
    sideways, and the ones past its edge are out of sight."""
    return page.evaluate(
        """() => {
            const cut = [...document.querySelectorAll('[data-testid="stMetric"] *')]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.trim());
            // A multiselect scrolls its row of tags sideways when they do not fit: part of them is out of sight.
            for (const row of document.querySelectorAll('[data-testid="stMultiSelectTagsContainer"]')) {
                if (row.scrollWidth > row.clientWidth + 1)
                    cut.push(...[...row.querySelectorAll('[data-tag]')].map(tag => tag.innerText.trim()));
            }
            return cut;
        }"""
    )


def settled(page, frames: int = 5, timeout_ms: int = 10_000) -> None:
    """Wait until the KPI cards' boxes stay the same for `frames` animation frames in a row: after a resize,
    Streamlit's columns (CSS flex boxes, some widths set by its resize observers) take a few frames to settle, more
    on a loaded machine; two frames were not always enough (a card measured mid-layout looked clipped)."""
    page.evaluate(
        """([frames, timeout]) => new Promise(resolve => {
            const boxes = () => JSON.stringify([...document.querySelectorAll('[data-testid="stMetric"]')]
                .map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }));
            const start = performance.now();
            let last = boxes(), same = 0;
            const tick = () => {
                const now = boxes();
                same = now === last ? same + 1 : 0;
                last = now;
                if (same >= frames || performance.now() - start > timeout) resolve();
                else requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
        })""",
        [frames, timeout_ms],
    )


def unclipped_at(page, widths=(1280, 1920)) -> dict[int, list[str]]:
    """clipped_texts at each viewport width (the cards re-laid out); the viewport is restored afterwards."""
    size = page.viewport_size
    found = {}
    for width in widths:
        page.set_viewport_size({"width": width, "height": size["height"]})
        page.locator('[data-testid="stMetric"]').first.wait_for()
        settled(page)
        found[width] = clipped_texts(page)
    page.set_viewport_size(size)
    return found


def axis_dates(page, lang: str) -> list[str]:
    """The tick labels of the charts' x axes that name a date (a day and a month)."""
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    return [t for t in ticks if re.search(rf"\d{{1,2}} {MONTHS[lang]}", t)]
