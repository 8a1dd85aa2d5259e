"""Helpers shared by the browser tests of the Map, Sensor and Pipeline pages."""

from __future__ import annotations

import re
import time

# A missing i18n key shows itself as 'section.name' on the page.
RAW_KEY = re.compile(
    r"\b(?:map|sensor|pipeline|stage|reason|trends|alerts|live|csv|actions|silence|events|sidebar|severity|age|"
    r"window|kind|status|source|col|page|db|reading)\.[a-z_]+\b"
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
