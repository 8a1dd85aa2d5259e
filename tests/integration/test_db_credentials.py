"""DESIGN §9 / issue 9 point 7 on a real PostgreSQL: every role of the embedded server needs its password on
every connection type (TCP, the Unix socket, replication), none of it is trusted, the passwords live in a 0600
file next to the cluster, a data directory made with `trust` by the earlier code is converted on its next start,
and the dashboard role has its statement timeout and connection limit. Clients are psql and psycopg2, told
nothing but what the test gives them (no ~/.pgpass, no PGPASSWORD)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from db.credentials import USERS
from db.embedded import DATABASE, EmbeddedError, EmbeddedPostgres, _bindir, _run_as
from db.migrate import migrate
from tests.support import postgres as pg
from tests.support.services import free_port, require

ROOT = Path(__file__).resolve().parents[2]
READER = USERS["reader"]
# A client environment without any password source of its own.
CLEAN_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("PG") and not k.endswith("DATABASE_URL")},
    "PGPASSFILE": "/nonexistent",
    "PGCONNECT_TIMEOUT": "10",
}


def psql(target: str, query: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", target, "-c", query],
        capture_output=True,
        text=True,
        timeout=60,
        env={**CLEAN_ENV, **env},
    )


def auth_refused(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and (
        "no password supplied" in result.stderr or "password authentication failed" in result.stderr
    )


@pytest.fixture(scope="module")
def cluster(output_dir):
    """A cluster of its own: the connection-limit test must not count other tests' pooled connections."""
    require(pg.binaries_available(), "PostgreSQL server binaries")
    require(shutil.which("psql") is not None, "psql (postgresql-client)")
    cluster = pg.TestCluster(output_dir / f"pg-credentials-{os.getpid()}", free_port())
    cluster.start()
    yield cluster
    cluster.stop()


def test_psql_as_the_reader_needs_its_password(cluster):
    server = cluster.server
    db = cluster.fresh_database()
    bare = f"postgresql://{READER}@127.0.0.1:{server.port}/{db}"
    refused = psql(bare, "SELECT current_user")
    assert auth_refused(refused), refused.stderr
    wrong = psql(bare, "SELECT current_user", PGPASSWORD="not-the-password")
    assert auth_refused(wrong) and "password authentication failed" in wrong.stderr, wrong.stderr
    password = server.credentials.password(READER)
    with_password = psql(bare, "SELECT current_user", PGPASSWORD=password)
    assert with_password.returncode == 0 and with_password.stdout.strip() == READER, with_password.stderr
    # The URL the project hands out names the password file instead of carrying the password.
    url = cluster.url(db, READER)
    assert password not in url and "passfile=" in url
    assert psql(url, "SELECT current_user").stdout.strip() == READER


def test_every_role_and_connection_type_asks_for_a_password_and_nothing_is_trusted(cluster):
    server = cluster.server
    hba = (server.data_dir / "pg_hba.conf").read_text()
    assert "trust" not in hba.lower()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert {tuple(rule[:2]) for rule in rules} >= {("local", "all"), ("host", "all"), ("local", "replication")}
    assert all(rule[-1] == "scram-sha-256" for rule in rules), rules
    socket_dir = str(server.data_dir)
    for user in USERS.values():
        password = server.credentials.password(user)
        for host in ("127.0.0.1", socket_dir):  # TCP and the Unix socket
            target = f"host={host} port={server.port} dbname=postgres user={user}"
            assert auth_refused(psql(target, "SELECT 1")), (user, host)
            assert psql(target, "SELECT 1", PGPASSWORD=password).stdout.strip() == "1", (user, host)
    # Replication (the owner is the only role allowed to replicate).
    owner = USERS["owner"]
    replication = f"host=127.0.0.1 port={server.port} dbname={DATABASE} user={owner} replication=database"
    assert auth_refused(psql(replication, "IDENTIFY_SYSTEM"))
    identified = psql(replication, "IDENTIFY_SYSTEM", PGPASSWORD=server.credentials.password(owner))
    assert identified.returncode == 0 and identified.stdout.count("|") == 3, identified.stderr


def test_the_password_file_is_private_and_reused(cluster):
    credentials = cluster.server.credentials
    assert stat.S_IMODE(credentials.passfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.directory.stat().st_mode) == 0o700
    before = credentials.load()
    assert set(before) == set(USERS.values()) and len(set(before.values())) == 3
    assert all(len(p) >= 32 for p in before.values())
    cluster.server.start()  # again, running: nothing changes
    assert credentials.load() == before


def test_the_reader_has_a_statement_timeout_and_a_connection_limit(cluster):
    db = cluster.fresh_database()
    with closing(psycopg2.connect(cluster.url(db))) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (READER,))
        (limit,) = cur.fetchone()
        cur.execute(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = %s AND s.setdatabase = 0",
            (READER,),
        )
        assert cur.fetchone() == (["statement_timeout=15s"],)
    assert 10 + 5 <= limit <= 50  # above the dashboard's pool (5 + 5 overflow) with headroom, and bounded
    url = cluster.url(db, READER)
    # No client-side setting here: what the server applies to any client of this role.
    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone() == ("15s",)
        with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
            cur.execute("SELECT pg_sleep(16)")
    opened = []
    try:
        for _ in range(limit):
            opened.append(psycopg2.connect(url))
        with pytest.raises(psycopg2.OperationalError, match="too many connections for role"):
            psycopg2.connect(url)
    finally:
        for each in opened:
            each.close()


def test_db_url_and_up_hand_out_working_urls_and_never_print_a_password(cluster):
    server = cluster.server
    env = {
        **CLEAN_ENV,
        "MADININA_PG_DATA": str(server.data_dir),
        "MADININA_PG_PORT": str(server.port),
        "PYTHONPATH": str(ROOT),
    }
    up = subprocess.run([sys.executable, "-m", "db", "up"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    passwords = server.credentials.load().values()
    for role in ("owner", "writer", "reader"):
        url = subprocess.run(
            [sys.executable, "-m", "db", "url", "--role", role], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert url.returncode == 0, url.stderr
        said = up.stdout + up.stderr + url.stdout + url.stderr
        assert not any(password in said for password in passwords)
        assert psql(url.stdout.strip(), "SELECT current_user").stdout.strip() == USERS[role]


def _started_server(root: Path) -> EmbeddedPostgres:
    """A new embedded server of its own (these tests change its passwords)."""
    require(pg.binaries_available(), "PostgreSQL server binaries")
    shutil.rmtree(root, ignore_errors=True)
    server = EmbeddedPostgres(data_dir=root / "pg", port=free_port(), timescaledb=False)
    server.start()
    return server


def test_an_environment_password_replaces_the_generated_one(output_dir, monkeypatch):
    server = _started_server(output_dir / f"pg-envpw-{os.getpid()}")
    try:
        generated = server.credentials.password(READER)
        monkeypatch.setenv("MADININA_READER_PASSWORD", "chosen: by the 'operator' \\ here")
        server.start()  # what `db up` does at the next start
        assert server.credentials.password(READER) == "chosen: by the 'operator' \\ here"  # the file follows
        target = f"host=127.0.0.1 port={server.port} dbname=postgres user={READER}"
        assert auth_refused(psql(target, "SELECT 1", PGPASSWORD=generated))
        assert psql(target, "SELECT 1", PGPASSWORD="chosen: by the 'operator' \\ here").stdout.strip() == "1"
        assert psql(server.url("postgres", READER), "SELECT 1").stdout.strip() == "1"  # escaping in the file
    finally:
        server.stop()


def _legacy_cluster(data_dir: Path, port: int) -> None:
    """A data directory as the code before issue 9 made it: initdb --auth=trust, the roles without passwords."""
    data_dir.mkdir(mode=0o700, parents=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    run = [*_run_as(), str(_bindir() / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust"]
    subprocess.run([*run, "--encoding=UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    with open(data_dir / "postgresql.conf", "a") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{data_dir}'\n")
    log = data_dir.parent / "legacy.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    pg_ctl = [*_run_as(), str(_bindir() / "pg_ctl"), "-D", str(data_dir)]
    subprocess.run([*pg_ctl, "start", "-w", "-l", str(log), "-o", f"-p {port}"], check=True, capture_output=True)
    conn = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")  # trust: no password at all
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {DATABASE}")
    conn.close()
    migrate(f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}")  # creates the roles, without passwords
    assert "trust" in (data_dir / "pg_hba.conf").read_text()


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_a_trust_data_directory_is_converted_on_its_next_start(output_dir, state):
    require(pg.binaries_available(), "PostgreSQL server binaries")
    root = output_dir / f"pg-legacy-{state}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    port = free_port()
    _legacy_cluster(root / "pg", port)
    server = EmbeddedPostgres(data_dir=root / "pg", port=port, timescaledb=False)
    try:
        if state == "stopped":
            server.stop()
        else:  # before: anyone in, no password
            assert psql(f"postgresql://{READER}@127.0.0.1:{port}/{DATABASE}", "SELECT 1").stdout.strip() == "1"
        server.start()
        # After: data kept, trust gone, passwords required and working.
        assert "trust" not in (server.data_dir / "pg_hba.conf").read_text().lower()
        for user in USERS.values():
            target = f"host=127.0.0.1 port={port} dbname={DATABASE} user={user}"
            assert auth_refused(psql(target, "SELECT 1")), user
            assert psql(server.url(DATABASE, user), "SELECT 1").stdout.strip() == "1", user
        assert psql(server.url(DATABASE, READER), "SELECT count(*) FROM sensors").returncode == 0
        assert stat.S_IMODE(server.credentials.passfile.stat().st_mode) == 0o600
    finally:
        server.stop()


def test_a_lost_password_file_is_replaced_at_a_stopped_start_and_refused_while_running(output_dir):
    server = _started_server(output_dir / f"pg-lostpw-{os.getpid()}")
    try:
        old = server.credentials.load()
        server.credentials.passfile.unlink()
        with pytest.raises(EmbeddedError, match="stop it"):
            server.start()  # running: its passwords cannot be reset from outside
        server.stop()
        server.start()
        new = server.credentials.load()
        assert set(new) == set(old) and all(new[u] != old[u] for u in old)
        for user in USERS.values():
            assert psql(server.url("postgres", user), "SELECT 1").stdout.strip() == "1", user
            target = f"host=127.0.0.1 port={server.port} dbname=postgres user={user}"
            assert auth_refused(psql(target, "SELECT 1", PGPASSWORD=old[user])), user
    finally:
        server.stop()
