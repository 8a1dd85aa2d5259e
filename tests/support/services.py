"""Service requirements: a missing service skips a test on a laptop, but fails it under CI=true."""

from __future__ import annotations

import os
import socket
import time

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true (scripts/setup.sh installs it)", pytrace=False)
    pytest.skip(f"{what} not available on this machine")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    """Poll a condition until it holds and return its value; fail loudly when it does not within `timeout` s
    (the tests' one way to wait on a condition instead of sleeping a fixed time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def wait_for_http(proc, url: str, ok, timeout: float, what: str, log_path) -> None:
    """Wait until a service we started answers `url` as `ok(response)` says; fail at once with its log if it
    exited instead."""
    import urllib.request

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return ok(response)
        except OSError:
            return False

    wait_for(ready, timeout, f"{what} at {url}")
