"""Start the real programs for end-to-end tests: the dashboard (streamlit run app.py) and the ingestion."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STREAMLIT = Path(sys.executable).with_name("streamlit")


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
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
def dashboard(database_url: str, port: int, log_path: Path, *, args: tuple[str, ...] = ()):
    """Run the dashboard on 127.0.0.1:port against database_url; yields its base URL once healthy. `args` go to
    `streamlit run` (e.g. ``--secrets.files`` for a test's own secrets.toml: the project's .streamlit/ is left
    alone)."""
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
            cwd=ROOT,
            env=_env(database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"dashboard exited early:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dashboard not healthy in 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
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
