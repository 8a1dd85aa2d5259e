"""A real Mosquitto broker (Debian's package, installed by scripts/setup.sh dev) on a free local port, started
from the project's shipped configuration (deploy/mosquitto/mosquitto.conf) — the tests exercise exactly the
limits that the run command and deploy/ use. Only the listener port and the persistence directory differ; with
`tls=` also the file's TLS section is switched on (port, address 127.0.0.1, secrets directory), rendered by the
run command's own renderer (scripts/mqtt_broker.py)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from scripts.mqtt_broker import SHIPPED_CONF, TlsListener
from scripts.mqtt_broker import render as _render
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["SHIPPED_CONF", "Broker", "TlsListener", "mosquitto", "mosquitto_path", "render"]


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def render(port: int, persistence_dir: Path, text: str | None = None, *, tls: TlsListener | None = None) -> str:
    """The shipped file with its substitutable lines replaced; fails if one is not there exactly once (so the
    file cannot drift away from what the tests run)."""
    return _render(port, persistence_dir, tls=tls, text=text)


def _writable_by_broker(directory: Path) -> None:
    # As root, Mosquitto drops to the `mosquitto` user (the shipped file keeps the default `user`), which must
    # write its database there and reach it through the parent folders.
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam("mosquitto")
    except KeyError:
        return  # no such user: Mosquitto falls back to `nobody`... which cannot write; the start error says so
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    for parent in directory.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


class Broker:
    """One broker process on a fixed port and persistence directory; can be stopped and started again (a
    restart keeps the same port and database, as a real one would)."""

    def __init__(
        self, workdir: Path, port: int | None = None, *, conf_text: str | None = None, tls_dir: Path | None = None
    ):
        self.port = port or free_port()
        # The TLS listener (its secrets made by scripts/mqtt_broker.py in tls_dir), on a port of its own.
        self.tls = TlsListener(free_port(), tls_dir) if tls_dir is not None else None
        self.conf_text = conf_text  # a variant of the shipped file (control tests only); default: the file
        self.workdir = workdir
        self.data_dir = workdir / f"mosquitto-{self.port}-data"
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        self.log_path = workdir / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        # A new broker starts empty: a database left by an earlier run on the same port would bring back its
        # sessions and queues. (A restart of this broker, start() again, keeps them, as a real one would.)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def start(self, timeout: float = 15.0) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _writable_by_broker(self.data_dir)
        self.conf.write_text(render(self.port, self.data_dir, self.conf_text, tls=self.tls), encoding="utf-8")
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [mosquitto_path(), "-c", str(self.conf)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_path.read_text()[-2000:]}")
            if all(_listens(port) for port in (self.port, *([self.tls.port] if self.tls else []))):
                return self.port
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen in {timeout} s")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        """Graceful stop (SIGTERM: Mosquitto saves its database on the way out); returns the exit code."""
        if self.proc is None:
            return 0
        self.proc.terminate()
        code = self.proc.wait(timeout)
        self.proc = None
        self._log.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final save (what a crash or `docker kill` does)."""
        self.proc.kill()
        self.proc.wait(30)
        self.proc = None
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def mosquitto(workdir: Path):
    """Start a broker from the shipped configuration; yields its port."""
    broker = Broker(workdir)
    broker.start()
    try:
        yield broker.port
    finally:
        broker.stop()
