"""Headless Chromium (Debian's package) driven by Playwright, with no browser download: tests/support/browser.py."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium, chromium_path, new_context
from tests.support.services import require


@pytest.fixture(scope="session")
def browser():
    require(chromium_path() is not None, "Debian chromium")
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser):
    context = new_context(browser)
    page = context.new_page()
    yield page
    context.close()
