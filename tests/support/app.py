"""Start the real programs for end-to-end tests and bench/browser.py: the dashboard (streamlit run app.py) and the
ingestion. The one place that starts them."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tests.support.services import wait_for_http

ROOT = Path(__file__).resolve().parents[2]
STREAMLIT = Path(sys.executable).with_name("streamlit")


def _env(database_url: str, now: datetime | None = None) -> dict[str, str]:
    from components.clock import PIN_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_") and k != PIN_ENV}
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    if now is not None:
        env[PIN_ENV] = now.isoformat()  # the dashboard clock pinned (components/clock.py)
    return env


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def dashboard(
    database_url: str,
    port: int,
    log_path: Path,
    *,
    now: datetime | None = None,
    args: tuple[str, ...] = (),
    root: Path = ROOT,
):
    """Run the dashboard on 127.0.0.1:port against database_url (its clock pinned at `now` when given); yields its
    base URL once healthy. `args` go to `streamlit run` (e.g. ``--secrets.files`` for a test's own secrets.toml: the
    project's .streamlit/ is left alone); `root` is the checkout whose app.py runs (bench/browser_trace.py compares
    two)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                str(STREAMLIT),
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                *args,
            ],
            cwd=root,
            env=_env(database_url, now),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            health = f"http://127.0.0.1:{port}/_stcore/health"
            wait_for_http(proc, health, lambda r: r.status == 200, 60, "dashboard", log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(proc)


@contextmanager
def ingestion(database_url: str, log_path: Path, *args: str):
    """Run `python -m ingestion --database-url URL <args>` in the background."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion", "--database-url", database_url, *args],
            cwd=ROOT,
            env=_env(database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            _stop(proc)
