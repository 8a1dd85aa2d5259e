"""A real Prometheus server (Debian's prometheus, installed by scripts/setup.sh dev) on a free local port, scraping
the given targets every second, with the project's alerting rules loaded; queried through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def prometheus_path() -> str | None:
    return shutil.which("prometheus") or next((p for p in ("/usr/bin/prometheus",) if Path(p).exists()), None)


def promtool_path() -> str | None:
    return shutil.which("promtool") or next((p for p in ("/usr/bin/promtool",) if Path(p).exists()), None)


class Prometheus:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict]:
        return self.api("query", query=promql)["result"]

    def scalar(self, promql: str) -> float | None:
        """The single value of an instant query (None when it has no result)."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


@contextmanager
def prometheus(workdir: Path, targets: list[str], *, job: str = "madinina-ingestion"):
    port = free_port()
    data = workdir / f"prometheus-{port}"
    data.mkdir(parents=True, exist_ok=True)
    config = data / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
            }
        )
    )  # JSON is YAML
    log = open(workdir / f"prometheus-{port}.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            prometheus_path(),
            f"--config.file={config}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(port)
    try:
        wait_for_http(
            proc, f"{server.url}/-/ready", lambda r: r.status == 200, 60, "prometheus",
            workdir / f"prometheus-{port}.log",
        )  # fmt: skip
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
