"""A real Mosquitto broker (Debian's package, installed by scripts/setup.sh dev) on a free local port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


@contextmanager
def mosquitto(workdir: Path):
    """Start a broker; yields its port. Offline persistent sessions keep an unbounded queue (tests need every
    message a killed consumer missed)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
        "log_dest stdout\n"
        "user root\n"
    )
    log = open(workdir / f"mosquitto-{port}.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([mosquitto_path(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(workdir / f'mosquitto-{port}.log').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not listen in 15 s")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
