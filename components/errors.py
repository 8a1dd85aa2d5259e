"""The last resort: an unexpected exception never reaches a browser as a traceback. The page (or fragment) shows a
short FR/EN message with a correlation id; the server log has the full trace under the same id. With
client.showErrorDetails = "full" (development: STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=full) the trace is shown too."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import streamlit as st

from components.i18n import t

log = logging.getLogger("madinina.dashboard")
if not log.handlers:  # Streamlit configures only its own loggers: give ours a timestamped line on stderr (server log)
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)


def report(exc: BaseException) -> str:
    """Log exc with its trace under a new correlation id, show the short message; return the id."""
    correlation = uuid.uuid4().hex[:12]
    log.error("unexpected dashboard error [%s]", correlation, exc_info=exc)
    st.error(t("error.unexpected", id=correlation), icon=":material/error:")
    try:
        detailed = st.get_option("client.showErrorDetails") in ("full", True, "true", "True")
    except Exception:  # noqa: BLE001 - an unknown option must not hide the message above
        detailed = False
    if detailed:
        st.exception(exc)
    return correlation


@contextmanager
def guarded():
    """Run a block; an Exception (not Streamlit's rerun/stop controls, which are BaseExceptions) is reported."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the point of a last-resort handler
        report(exc)


def guard(fn: Callable) -> Callable:
    """Decorator form of guarded(), for fragment bodies (a fragment's rerun does not pass through app.py)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with guarded():
            return fn(*args, **kwargs)

    return wrapper
