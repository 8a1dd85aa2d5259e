"""A real PostgreSQL for tests: the project's own embedded server in a throw-away directory, a migrated
template database, and one fresh database per test cloned from it (fast and fully isolated). Authentication
is the embedded server's: scram-sha-256 for every role, passwords in `<root>/pgdata-credentials/pgpass`.

Two branches (DESIGN §2): TestCluster(root, port) is plain PostgreSQL even where TimescaleDB is installed;
TestCluster(root, port, timescaledb=True) preloads the real extension (built by scripts/setup.sh), and its
template database is on the TimescaleDB branch (checked: extension version TIMESCALEDB_VERSION)."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import psycopg2

from db.embedded import EmbeddedError, EmbeddedPostgres, _bindir, timescaledb_installed
from db.migrate import migrate

TEMPLATE = "madinina_template"
TIMESCALEDB_VERSION = "2.28.3"


def binaries_available() -> bool:
    try:
        _bindir()
        return True
    except EmbeddedError:
        return False


def timescaledb_available() -> bool:
    return binaries_available() and timescaledb_installed()


class TestCluster:
    __test__ = False  # not a test class, whatever its name

    def __init__(self, root: Path, port: int, *, timescaledb: bool = False):
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        self.server = EmbeddedPostgres(data_dir=root / "pgdata", port=port, timescaledb=timescaledb)
        self.port = port
        self.timescaledb = timescaledb

    def start(self) -> None:
        self.server.start()
        admin = self.url("postgres")
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            cur.execute(f"CREATE DATABASE {TEMPLATE}")
        conn.close()
        migrate(self.url(TEMPLATE))
        from ingestion.registry import sync_catalogue

        conn = psycopg2.connect(self.url(TEMPLATE))
        sync_catalogue(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            row = cur.fetchone()
        conn.close()
        expected = (TIMESCALEDB_VERSION,) if self.timescaledb else None
        if row != expected:  # the branch a test runs on is the branch it says, or no test runs
            raise RuntimeError(f"test cluster (timescaledb={self.timescaledb}): timescaledb extension is {row}")
        self._close_template()

    def _close_template(self, timeout_s: float = 60.0) -> None:
        """No session may stay in the template, or CREATE DATABASE ... TEMPLATE fails: on TimescaleDB its job
        scheduler (a background worker per database with policies) would. TimescaleDB's launcher skips databases
        that refuse connections; the copies accept them again (ALLOW_CONNECTIONS is not inherited)."""
        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        deadline = time.monotonic() + timeout_s
        with conn.cursor() as cur:
            cur.execute(f"ALTER DATABASE {TEMPLATE} WITH ALLOW_CONNECTIONS false")
            while True:
                cur.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (TEMPLATE,)
                )
                if cur.fetchone()[0] == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sessions keep connecting to {TEMPLATE}")
                time.sleep(0.1)  # polling the condition above, bounded by the deadline
        conn.close()

    def stop(self) -> None:
        self.server.stop()

    def url(self, database: str, user: str = "postgres") -> str:
        """A role's URL: no password in it, it names the cluster's password file (db/credentials.py), which
        has every role's password; a URL derived from it for another role (db/settings.py) keeps working."""
        return self.server.url(database, user)

    def fresh_database(self, *, migrated: bool = True) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            if migrated:
                cur.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
            else:
                cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return name
