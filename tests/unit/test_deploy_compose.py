"""deploy/compose.yaml, checked without a Docker engine (there is none here): `docker-compose config` (Debian's
docker-compose, installed by scripts/setup.sh dev; it validates against its compose-spec JSON schema offline),
plus structural checks of what the stack needs: a health check on every long-running service, start order
through health checks, Kafka in KRaft mode, a Kafka connector of the same version as the pinned pyspark."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
STACK = {"kafka", "spark-master", "spark-worker", "timescaledb", "mosquitto", "simulator", "spark-job", "dashboard"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_file_is_valid_for_docker_compose():
    tool = shutil.which("docker-compose")
    require(tool is not None, "docker-compose (Debian package docker-compose)")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_part_of_the_stack_is_there_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) >= STACK
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"kafka-init", "migrate"}
    for name, service in services.items():
        if name in one_shots:
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
    # Start order: every dependency exists, and waits on a health check or a one-shot that completed.
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
            else:
                assert spec["condition"] == "service_completed_successfully" and dep in one_shots, (name, dep)


def test_images_kafka_kraft_and_the_spark_job(compose):
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb-ha:")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)  # KRaft: no ZooKeeper
    job = services["spark-job"]["command"]
    assert job[0] == "spark-submit" and "ingestion/spark/job.py" in job
    assert job[job.index("--source") + 1] == "kafka" and job[job.index("--master") + 1].startswith("spark://")
    # The connector jar must match the pinned pyspark (requirements-spark.txt) and sources.KAFKA_PACKAGE.
    pinned = re.search(r"^pyspark==(\S+)$", (ROOT / "requirements-spark.txt").read_text(), re.M).group(1)
    package = job[job.index("--packages") + 1]
    assert package == f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pinned}"
    sources = (ROOT / "ingestion" / "spark" / "sources.py").read_text()
    assert f'SPARK_VERSION = "{pinned}"' in sources
    # The checkpoint (with the state store) is shared by the driver and the executors.
    assert any(v.endswith(":/checkpoints") for v in services["spark-worker"]["volumes"])
    assert any(v.endswith(":/checkpoints") for v in services["spark-job"]["volumes"])
    # The dashboard gets the read-only role only.
    dashboard = services["dashboard"]["environment"]
    assert dashboard["DATABASE_URL"] == "" and "madinina_reader" in dashboard["DASHBOARD_DATABASE_URL"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "requirements-spark.txt" in dockerfile and "openjdk-17" in dockerfile
