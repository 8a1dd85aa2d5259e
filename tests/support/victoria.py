"""A real VictoriaMetrics (Debian's victoria-metrics, installed by scripts/setup.sh dev) on a free local port: it
accepts InfluxDB's v2 write API (/api/v2/write, line protocol) and returns what it stored via /api/v1/export."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, wait_for_http


def victoria_path() -> str | None:
    return shutil.which("victoria-metrics") or next(
        (p for p in ("/usr/bin/victoria-metrics",) if Path(p).exists()), None
    )


class Victoria:
    def __init__(self, port: int, proc: subprocess.Popen):
        self.port = port
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    def export(self, match: str = '{__name__!=""}') -> list[dict]:
        """Every sample stored (after a flush of VictoriaMetrics' in-memory buffers), as export's JSON lines."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).read()
        data = urllib.parse.urlencode({"match[]": match, "start": "0"}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/export", data=data, timeout=60) as response:
            return [json.loads(line) for line in response.read().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@contextmanager
def victoria(workdir: Path):
    """Start VictoriaMetrics; yields a Victoria. Deduplication at 1 ms: a point written twice (same series, same
    time) is kept once, as InfluxDB does; retention 10 years so that archived history is never refused as old."""
    port = free_port()
    data = workdir / f"victoria-{port}"
    data.mkdir(parents=True, exist_ok=True)
    log = open(workdir / f"victoria-{port}.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            victoria_path(),
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}",
            "-retentionPeriod=10y",
            "-dedup.minScrapeInterval=1ms",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Victoria(port, proc)
    try:
        wait_for_http(
            proc, f"{server.url}/health", lambda r: r.read().strip() == b"OK", 30, "victoria-metrics",
            workdir / f"victoria-{port}.log",
        )  # fmt: skip
        yield server
    finally:
        server.stop()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
