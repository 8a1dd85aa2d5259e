"""A TimescaleDB stand-in for tests: tools/timescale-standin (PGlite + TimescaleDB 2.23 in WASM, served over
the PostgreSQL wire protocol by node). Standard library + psycopg2 only.

    with timescale_standin() as dsn:
        conn = psycopg2.connect(dsn)

Limits that matter to callers (details in tools/timescale-standin/README.md): ONE connection at a time (a
second concurrent connect waits, up to queue_timeout_ms, until the first closes); one in-memory database
per server whatever the DSN names; statement_timeout and cancel are not enforced.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN_DIR = ROOT / "tools" / "timescale-standin"
READY_PREFIX = "TIMESCALE_STANDIN_READY"
_READY_RE = re.compile(rf"^{READY_PREFIX} host=(\S+) port=(\d+)")
MIN_NODE_MAJOR = 20


class StandinError(RuntimeError):
    """The stand-in could not be installed or started; the message carries its output."""


def standin_available() -> tuple[bool, str]:
    """(True, versions) when node >= 20 and npm are on PATH, else (False, why not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        return False, "node is not on PATH (the TimescaleDB stand-in needs Node.js >= 20)"
    if not npm:
        return False, "npm is not on PATH (needed once to install the TimescaleDB stand-in)"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"node does not run: {exc}"
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        return False, f"node {version or '(unknown version)'} is too old: the stand-in needs >= {MIN_NODE_MAJOR}"
    return True, f"node {version}"


def install(timeout: float = 600.0) -> None:
    """Run install.sh (idempotent: a no-op taking milliseconds when node_modules matches the lock file)."""
    try:
        proc = subprocess.run(
            ["bash", str(STANDIN_DIR / "install.sh")],
            cwd=STANDIN_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise StandinError(f"tools/timescale-standin/install.sh timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise StandinError(
            f"tools/timescale-standin/install.sh failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def dsn_for(port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres:postgres@{host}:{port}/postgres?sslmode=disable"


@contextmanager
def timescale_standin(
    port: int | None = None, *, timeout: float = 60.0, queue_timeout_ms: int | None = None
) -> Iterator[str]:
    """Start the stand-in (installing its packages first if needed) and yield its DSN; stop it on exit.

    port: None = a free port chosen by the OS (race-free: the server binds port 0 and reports the real one).
    timeout: seconds to wait for the server's ready line; on failure StandinError carries the server's output.
    queue_timeout_ms: how long a second concurrent connection waits for the first to close (server default 60000).
    """
    ok, why = standin_available()
    if not ok:
        raise StandinError(why)
    install()

    env = dict(os.environ, STANDIN_EXIT_ON_STDIN_CLOSE="1")  # if this process dies, so does the server
    env.pop("PORT", None)
    if queue_timeout_ms is not None:
        env["STANDIN_QUEUE_TIMEOUT_MS"] = str(queue_timeout_ms)
    proc = subprocess.Popen(
        ["node", "server.mjs", str(0 if port is None else port)],
        cwd=STANDIN_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    output: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}

    def pump() -> None:  # keeps draining the pipe for the server's whole life, so it can never block on it
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = _READY_RE.match(line)
            if match and not ready.is_set():
                found.update(host=match.group(1), port=match.group(2))
                ready.set()
        ready.set()  # EOF: the server has exited

    reader = threading.Thread(target=pump, name="timescale-standin-output", daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        if not ready.wait(timeout) or not found:
            try:
                proc.wait(timeout=5)  # output ended: the exit code follows at once
            except subprocess.TimeoutExpired:
                pass
            state = f"exited with code {proc.returncode}" if proc.returncode is not None else "still not ready"
            raise StandinError(
                f"TimescaleDB stand-in {state} after {time.monotonic() - started:.1f} s "
                f"(timeout {timeout:.0f} s); its output:\n{''.join(output) or '(none)'}"
            )
        yield dsn_for(int(found["port"]), found["host"])
    finally:
        _stop(proc)
        reader.join(timeout=5)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
