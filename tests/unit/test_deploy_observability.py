"""deploy/compose.yaml wiring of the archives and observability services: every file they mount exists, Prometheus
scrapes the port the consumer serves /metrics on, Grafana gets the read-only role's password and the provisioned
files, the archivers run the real commands (which parse)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ingestion.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def services() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]


def test_mounted_files_exist():
    for name in ("prometheus", "grafana"):
        for volume in services()[name]["volumes"]:
            host = volume.split(":")[0]
            if host.startswith("./"):
                assert (DEPLOY / host).exists(), (name, host)


def test_prometheus_scrapes_the_consumer_metrics_port():
    service = services()["mqtt-consumer"]
    consumer = service["command"]
    port = consumer[consumer.index("--metrics-port") + 1]
    # With network_mode "service:X" the consumer's ports are those of X's network namespace.
    host = service.get("network_mode", "service:mqtt-consumer").removeprefix("service:")
    assert consumer[consumer.index("--metrics-host") + 1] == "0.0.0.0"  # reachable from the prometheus container
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"{host}:{port}"]


def test_grafana_gets_the_reader_password_and_the_provisioning():
    grafana = services()["grafana"]
    assert "MADININA_READER_PASSWORD" in grafana["environment"]
    mounts = {v.split(":")[1] for v in grafana["volumes"]}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"} <= mounts


def test_archiver_commands_parse():
    for name in ("archive-influx", "archive-delta"):
        command = services()[name]["command"]
        assert command[:3] == ["python", "-m", "ingestion"]
        args = build_parser().parse_args(command[3:])
        assert args.command == "archive" and args.every == "5m"
