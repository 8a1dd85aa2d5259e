"""Helpers shared by the browser tests of the Map, Sensor and Pipeline pages."""

from __future__ import annotations

import re
import time

# A missing i18n key shows itself as 'section.name' on the page.
RAW_KEY = re.compile(
    r"\b(?:map|sensor|pipeline|stage|reason|trends|alerts|live|csv|ack|sidebar|severity|age|window|kind|status|"
    r"source|col|page|db|reading)\.[a-z_]+\b"
)


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
    page.wait_for_timeout(1200)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def widget(page, testid: str, label: str, *, sidebar: bool = False):
    scope = '[data-testid="stSidebar"] ' if sidebar else '[data-testid="stMain"] '
    return page.locator(f'{scope}[data-testid="{testid}"]', has_text=label)


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
    """Texts cut by their box in the KPI cards (label, value, note): Streamlit ends them with an ellipsis when
    their content is wider than the card (scrollWidth > clientWidth)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMetric"] *')]
                 .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.trim())"""
    )


def unclipped_at(page, widths=(1280, 1920)) -> dict[int, list[str]]:
    """clipped_texts at each viewport width (the cards re-laid out); the viewport is restored afterwards."""
    size = page.viewport_size
    found = {}
    for width in widths:
        page.set_viewport_size({"width": width, "height": size["height"]})
        page.wait_for_timeout(700)  # one layout pass of the columns
        page.locator('[data-testid="stMetric"]').first.wait_for()
        found[width] = clipped_texts(page)
    page.set_viewport_size(size)
    return found


def axis_dates(page, lang: str) -> list[str]:
    """The tick labels of the charts' x axes that name a date (a day and a month)."""
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    return [t for t in ticks if re.search(rf"\d{{1,2}} {MONTHS[lang]}", t)]
