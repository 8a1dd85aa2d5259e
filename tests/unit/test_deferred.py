"""components.deferred: a deferred element is drawn only at flush(), and then in the place it was asked for."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(flush: bool) -> None:
    import streamlit as st

    from components.deferred import Deferred

    later = Deferred()
    st.markdown("first")
    later(st.markdown, "heavy one")
    st.markdown("between")
    later(st.markdown, "heavy two")
    st.markdown("last")
    if flush:
        later.flush()


def _texts(flush: bool) -> list[str]:
    at = AppTest.from_function(_page, kwargs={"flush": flush}, default_timeout=30).run()
    assert not at.exception
    return [m.value for m in at.markdown]


def test_drawn_in_place_at_flush():
    assert _texts(flush=True) == ["first", "heavy one", "between", "heavy two", "last"]


def test_nothing_drawn_before_flush():
    assert _texts(flush=False) == ["first", "between", "last"]
