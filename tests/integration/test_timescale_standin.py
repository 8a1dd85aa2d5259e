"""The TimescaleDB stand-in (tools/timescale-standin): what works over psycopg2, and the limits our migrations must
branch on. Each test documents one behaviour; tools/timescale-standin/README.md lists the results.

All tests but the lifecycle ones share one server (module scope: a start costs ~3 s), so tables get unique names.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest

from tests.support.services import require
from tests.support.timescale import (
    READY_PREFIX,
    STANDIN_DIR,
    StandinError,
    install,
    standin_available,
    timescale_standin,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _require_standin() -> None:
    ok, why = standin_available()
    # CI=true: a missing node/npm FAILS (never skips); elsewhere it skips with the reason.
    require(ok, f"Node.js and npm for the TimescaleDB stand-in ({why})")


@pytest.fixture(scope="module")
def dsn() -> str:
    _require_standin()
    with timescale_standin() as url:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.close()
        yield url


@pytest.fixture
def conn(dsn):
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    yield connection
    connection.close()


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _readings_hypertable(cur, name: str) -> None:
    cur.execute(
        f"CREATE TABLE {name} (time timestamptz NOT NULL, sensor_id text NOT NULL, metric text NOT NULL,"
        " value double precision, PRIMARY KEY (sensor_id, metric, time))"
    )
    cur.execute("SELECT create_hypertable(%s, by_range('time'))", (name,))


def _rows(start: datetime, n: int, step_s: int = 7, sensor: str = "s1", metric: str = "temp"):
    return [(start + timedelta(seconds=i * step_s), sensor, metric, float(i)) for i in range(n)]


# --- TimescaleDB -----------------------------------------------------------------------------------------------


def test_create_extension_timescaledb(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        assert cur.fetchone()[0].startswith("2.23")
        cur.execute("SELECT name FROM pg_available_extensions ORDER BY name")
        assert [r[0] for r in cur.fetchall()] == ["plpgsql", "timescaledb"]  # no pgcrypto, no uuid-ossp


def test_hypertable_insert_and_time_bucket_equals_date_bin(conn):
    name = _name("ht")
    with conn.cursor() as cur:
        _readings_hypertable(cur, name)
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s)", _rows(T0, 50))
        psycopg2.extras.execute_values(cur, f"INSERT INTO {name} VALUES %s", _rows(T0, 50, sensor="s2"))
        cur.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_name = %s", (name,)
        )
        assert cur.fetchone() == (name,)
        cur.execute(
            f"SELECT time_bucket('1 minute', time) AS b, sensor_id, count(*), sum(value) FROM {name}"
            " GROUP BY b, sensor_id ORDER BY b, sensor_id"
        )
        tb = cur.fetchall()
        cur.execute(
            f"SELECT date_bin('1 minute', time, timestamptz '2000-01-01') AS b, sensor_id, count(*), sum(value)"
            f" FROM {name} GROUP BY b, sensor_id ORDER BY b, sensor_id"
        )
        assert cur.fetchall() == tb
        assert len(tb) == 12 and sum(r[2] for r in tb) == 100
        assert tb[0][0] == T0


def test_create_hypertable_legacy_form_as_in_migration(conn):
    """The exact call of db/migrations/0002_timescaledb.sql, on a table that already holds rows."""
    name = _name("legacy")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (time timestamptz NOT NULL, v double precision)")
        cur.execute(f"INSERT INTO {name} VALUES (%s, 1), (%s, 2)", (T0, T0 + timedelta(days=3)))
        cur.execute(
            f"""DO $$ BEGIN
                PERFORM create_hypertable('{name}', 'time', chunk_time_interval => interval '1 day',
                                          if_not_exists => true, migrate_data => true);
                PERFORM create_hypertable('{name}', 'time', if_not_exists => true);
            END $$"""
        )
        cur.execute("SELECT count(*) FROM show_chunks(%s)", (name,))
        assert cur.fetchone()[0] == 2
        cur.execute(f"SELECT count(*) FROM {name}")
        assert cur.fetchone()[0] == 2


def test_on_conflict_on_hypertable(conn):
    name = _name("conflict")
    with conn.cursor() as cur:
        _readings_hypertable(cur, name)
        cur.execute(f"INSERT INTO {name} VALUES (%s, 's1', 'temp', 1)", (T0,))
        cur.execute(f"INSERT INTO {name} VALUES (%s, 's1', 'temp', 2) ON CONFLICT DO NOTHING RETURNING 1", (T0,))
        assert cur.fetchall() == []
        cur.execute(
            f"INSERT INTO {name} VALUES (%s, 's1', 'temp', 3) ON CONFLICT (sensor_id, metric, time)"
            " DO UPDATE SET value = excluded.value RETURNING value",
            (T0,),
        )
        assert cur.fetchall() == [(3.0,)]


def test_continuous_aggregate_create_refresh_query(conn):
    name = _name("cagg_src")
    view = f"{name}_1m"
    with conn.cursor() as cur:
        _readings_hypertable(cur, name)
        psycopg2.extras.execute_values(cur, f"INSERT INTO {name} VALUES %s", _rows(T0, 60))
        cur.execute(
            f"CREATE MATERIALIZED VIEW {view} WITH (timescaledb.continuous) AS"
            f" SELECT time_bucket('1 minute', time) AS bucket, sensor_id, metric, avg(value) AS avg_v, count(*) AS n"
            f" FROM {name} GROUP BY bucket, sensor_id, metric WITH NO DATA"
        )
        cur.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))
        cur.execute(f"SELECT bucket, n FROM {view} ORDER BY bucket")
        rows = cur.fetchall()
        assert len(rows) == 7 and sum(n for _, n in rows) == 60 and rows[0] == (T0, 9)
        # A policy is accepted and gets a job id ...
        cur.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => NULL, end_offset => NULL,"
            " schedule_interval => INTERVAL '1 second', buckets_per_batch => 0)",  # default batching: run_job ~10 s
            (view,),
        )
        job = cur.fetchone()[0]
        assert job >= 1000
        # ... but never runs by itself: PGlite has no background workers. Run it by hand: CALL run_job(id).
        cur.execute(f"INSERT INTO {name} VALUES (%s, 's9', 'temp', 1)", (T0,))
        time.sleep(2.5)
        cur.execute(f"SELECT count(*) FROM {view} WHERE sensor_id = 's9'")
        assert cur.fetchone()[0] == 0, "a background job ran: the README's 'policies never run' is out of date"
        cur.execute("CALL run_job(%s)", (job,))
        cur.execute(f"SELECT count(*) FROM {view} WHERE sensor_id = 's9'")
        assert cur.fetchone()[0] == 1


def test_compression_settings_policy_and_manual_compression(conn):
    name = _name("compress")
    with conn.cursor() as cur:
        _readings_hypertable(cur, name)
        psycopg2.extras.execute_values(cur, f"INSERT INTO {name} VALUES %s", _rows(T0, 100, step_s=3600))
        cur.execute(
            f"ALTER TABLE {name} SET (timescaledb.compress, timescaledb.compress_segmentby = 'sensor_id, metric',"
            " timescaledb.compress_orderby = 'time DESC')"
        )
        cur.execute("SELECT add_compression_policy(%s, INTERVAL '7 days')", (name,))
        job = cur.fetchone()[0]  # accepted; like every policy it never runs by itself ...
        compressed = "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = %s AND is_compressed"
        cur.execute(compressed, (name,))
        assert cur.fetchone()[0] == 0
        cur.execute("CALL run_job(%s)", (job,))  # ... but runs by hand (all the 2024 chunks are > 7 days old)
        cur.execute("SELECT count(*) FROM show_chunks(%s)", (name,))
        chunks = cur.fetchone()[0]
        assert chunks >= 1
        cur.execute(compressed, (name,))
        assert cur.fetchone()[0] == chunks
        cur.execute(f"SELECT count(*), sum(value) FROM {name}")
        assert cur.fetchone() == (100, float(sum(range(100))))
        # DML into compressed chunks works (TimescaleDB >= 2.11), including ON CONFLICT DO NOTHING.
        cur.execute(f"INSERT INTO {name} VALUES (%s, 's1', 'temp', 0) ON CONFLICT DO NOTHING", (T0,))
        cur.execute(f"INSERT INTO {name} VALUES (%s, 's1', 'temp', 0.5)", (T0 + timedelta(minutes=1),))
        cur.execute(f"SELECT count(*) FROM {name}")
        assert cur.fetchone()[0] == 101
        cur.execute("SELECT count(*) FROM show_chunks(%s) c, decompress_chunk(c)", (name,))
        assert cur.fetchone()[0] == chunks
        cur.execute("SELECT count(*) FROM show_chunks(%s) c, compress_chunk(c)", (name,))  # manual compression
        assert cur.fetchone()[0] == chunks
        cur.execute(compressed, (name,))
        assert cur.fetchone()[0] == chunks
        cur.execute("SELECT add_retention_policy(%s, INTERVAL '30 days')", (name,))
        assert cur.fetchone()[0] >= 1000
        cur.execute("SELECT count(*) FROM drop_chunks(%s, older_than => %s)", (name, T0 + timedelta(days=3)))
        assert cur.fetchone()[0] >= 1


# --- PostgreSQL features our migrations and writer use -------------------------------------------------------------


def test_plpgsql_function_and_do_block(conn):
    fn = _name("f_add")
    with conn.cursor() as cur:
        cur.execute(
            f"""CREATE OR REPLACE FUNCTION {fn}(a int, b int) RETURNS int LANGUAGE plpgsql AS $$
            DECLARE r int; BEGIN r := a + b; IF r > 10 THEN RAISE NOTICE 'big %', r; END IF; RETURN r; END $$"""
        )
        cur.execute(f"SELECT {fn}(5, 7)")
        assert cur.fetchone()[0] == 12
        assert any("big 12" in n for n in conn.notices)
        cur.execute(
            "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'x'; EXCEPTION WHEN OTHERS THEN END $$"
        )


def test_roles_grants_and_security_definer(conn):
    table, reader, fn = _name("secret"), _name("reader"), _name("count_secret")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (v int)")
        cur.execute(f"INSERT INTO {table} VALUES (1), (2)")
        cur.execute(f"CREATE ROLE {reader} NOLOGIN")
        cur.execute(f"CREATE ROLE {reader}_login LOGIN PASSWORD 'x' IN ROLE {reader}")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {reader}")
        cur.execute(
            f"CREATE FUNCTION {fn}() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public"
            f" AS $$ SELECT count(*) FROM {table} $$"
        )
        cur.execute(f"REVOKE ALL ON FUNCTION {fn}() FROM PUBLIC")
        cur.execute(f"GRANT EXECUTE ON FUNCTION {fn}() TO {reader}")
        cur.execute(f"SET ROLE {reader}")
        try:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT count(*) FROM {table}")
            cur.execute(f"SELECT {fn}()")  # runs as its owner
            assert cur.fetchone()[0] == 2
        finally:
            cur.execute("RESET ROLE")
        cur.execute(f"GRANT SELECT ON {table} TO {reader}")
        cur.execute(f"SET ROLE {reader}")
        try:
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == 2
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"INSERT INTO {table} VALUES (3)")
        finally:
            cur.execute("RESET ROLE")


def test_login_user_in_dsn_is_ignored(dsn):
    """Every connection is the superuser 'postgres' whatever user and password the DSN gives; use SET ROLE."""
    conn = psycopg2.connect(dsn.replace("postgres:postgres@", "nobody:wrong@"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == ("postgres", "template1")
    finally:
        conn.close()


def test_percentile_cont_distinct_on_and_data_modifying_cte(conn):
    src, audit = _name("src"), _name("audit")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {src} (id bigserial PRIMARY KEY, sensor text, v double precision)")
        cur.execute(f"CREATE TABLE {audit} (id bigint, sensor text)")
        cur.execute(f"INSERT INTO {src} (sensor, v) VALUES ('a', 1), ('a', 2), ('a', 3), ('b', 10), ('b', 20)")
        cur.execute(
            f"SELECT sensor, percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM {src} GROUP BY sensor ORDER BY 1"
        )
        assert cur.fetchall() == [("a", 2.0), ("b", 15.0)]
        cur.execute(f"SELECT DISTINCT ON (sensor) sensor, v FROM {src} ORDER BY sensor, v DESC")
        assert cur.fetchall() == [("a", 3.0), ("b", 20.0)]
        cur.execute(
            f"WITH ins AS (INSERT INTO {src} (sensor, v) VALUES ('c', 5), ('c', 6) RETURNING id, sensor)"
            f" INSERT INTO {audit} SELECT id, sensor FROM ins"
        )
        cur.execute(f"SELECT sensor, count(*) FROM {audit} GROUP BY sensor")
        assert cur.fetchall() == [("c", 2)]


def test_on_conflict_do_update(conn):
    latest = _name("latest")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {latest} (sensor text PRIMARY KEY, v double precision)")
        for v in (1, 5, 3):
            cur.execute(
                f"INSERT INTO {latest} VALUES ('a', %s) ON CONFLICT (sensor) DO UPDATE SET v = excluded.v"
                f" WHERE {latest}.v < excluded.v",
                (v,),
            )
        cur.execute(f"SELECT v FROM {latest}")
        assert cur.fetchone()[0] == 5


def test_transactions_rollback_and_error_recovery(dsn):
    name = _name("tx")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {name} (v int PRIMARY KEY)")
            conn.commit()
            cur.execute(f"INSERT INTO {name} VALUES (1)")
            with pytest.raises(psycopg2.errors.UniqueViolation):
                cur.execute(f"INSERT INTO {name} VALUES (1)")
            conn.rollback()
            cur.execute(f"SELECT count(*) FROM {name}")
            assert cur.fetchone()[0] == 0
            cur.execute(f"INSERT INTO {name} VALUES (2)")
            conn.commit()
            named = conn.cursor(name="srv_cursor")  # server-side cursor
            named.itersize = 100
            named.execute("SELECT generate_series(1, 1000)")
            assert sum(1 for _ in named) == 1000
            named.close()
            conn.commit()
    finally:
        conn.close()


# --- the wire-protocol shim in server.mjs ------------------------------------------------------------------------


def test_copy_from_stdin_csv_into_hypertable(conn):
    """Plain pglite-socket crashes on COPY FROM STDIN; server.mjs replays it as COPY ... FROM '/dev/blob'."""
    name = _name("copy")
    with conn.cursor() as cur:
        _readings_hypertable(cur, name)
        payload = "".join(f'{T0 + timedelta(seconds=i)},s1,"te,mp",{i}\n' for i in range(20000)).encode()
        cur.copy_expert(
            f"COPY {name} (time, sensor_id, metric, value) FROM STDIN WITH (FORMAT csv)", io.BytesIO(payload)
        )
        assert cur.rowcount == 20000
        cur.execute(f"SELECT count(*), min(metric) FROM {name}")
        assert cur.fetchone() == (20000, "te,mp")
        with pytest.raises(psycopg2.DataError):  # a bad row fails the COPY; the connection stays usable
            cur.copy_expert(f"COPY {name} (time, sensor_id, metric, value) FROM STDIN", io.BytesIO(b"bad\n"))
        out = io.StringIO()
        cur.copy_expert(f"COPY (SELECT count(*) FROM {name}) TO STDOUT", out)
        assert out.getvalue() == "20000\n"
        with pytest.raises(psycopg2.errors.FeatureNotSupported):
            cur.execute(f"SELECT 1; COPY {name} FROM STDIN")  # COPY FROM STDIN must be a statement of its own
        cur.execute("SELECT 1")


def test_copy_inside_transaction_rolls_back(dsn):
    name = _name("copytx")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {name} (a int, b text)")
            cur.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv)", io.BytesIO(b"1,x\n2,y\n"))
            cur.execute(f"SELECT count(*) FROM {name}")
            assert cur.fetchone()[0] == 2
            conn.rollback()
            with pytest.raises(psycopg2.errors.UndefinedTable):
                cur.execute(f"SELECT count(*) FROM {name}")
    finally:
        conn.close()


def test_large_statements_and_results(conn):
    """Messages larger than one TCP read (~64 KiB) crashed plain pglite-socket; server.mjs reassembles them."""
    name = _name("big")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (a int, b text)")
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {name} VALUES %s", [(i, "x" * 20) for i in range(20000)], page_size=20000
        )
        cur.execute(f"SELECT count(*) FROM {name}")
        assert cur.fetchone()[0] == 20000
        cur.execute("SELECT %s::text", ("q" * 2_000_000,))
        assert len(cur.fetchone()[0]) == 2_000_000
        cur.execute("SELECT repeat('z', 3000000)")
        assert len(cur.fetchone()[0]) == 3_000_000


def test_each_connection_starts_a_fresh_session(dsn):
    """One backend serves every client; server.mjs ROLLBACKs and DISCARD ALLs when a client leaves."""
    name = _name("leak")
    first = psycopg2.connect(dsn)
    with first.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {name} (a int)")
        cur.execute("SET application_name = 'leaky'")
        cur.execute(f"CREATE TABLE {name}_uncommitted (a int)")
    first.close()  # transaction left open
    second = psycopg2.connect(dsn)
    try:
        with second.cursor() as cur:
            cur.execute(
                "SELECT current_setting('application_name'), to_regclass(%s), to_regclass(%s)",
                (name, f"{name}_uncommitted"),
            )
            assert cur.fetchone() == ("", None, None)
            assert second.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    finally:
        second.close()


def test_sslmode_prefer_falls_back_and_require_is_refused(dsn):
    conn = psycopg2.connect(dsn.replace("sslmode=disable", "sslmode=prefer"), connect_timeout=10)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="does not support SSL"):
        psycopg2.connect(dsn.replace("sslmode=disable", "sslmode=require"), connect_timeout=10)


def test_statement_timeout_is_not_enforced(conn):
    """No signals/timers inside the WASM backend: statement_timeout and cancel do nothing."""
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = '100ms'")
        started = time.monotonic()
        cur.execute("SELECT pg_sleep(0.5)")
        assert time.monotonic() - started >= 0.45
        cur.execute("RESET statement_timeout")


def test_second_concurrent_connection_waits_for_the_first(dsn):
    first = psycopg2.connect(dsn)
    result: dict[str, object] = {}

    def connect_second() -> None:
        started = time.monotonic()
        try:
            second = psycopg2.connect(dsn, connect_timeout=30)
            with second.cursor() as cur:
                cur.execute("SELECT 1")
            second.close()
            result["waited"] = time.monotonic() - started
        except Exception as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=connect_second)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive(), f"the second connection did not wait: {result}"
    first.close()
    thread.join(30)
    assert "error" not in result, result
    assert result["waited"] >= 1.4


# --- lifecycle -----------------------------------------------------------------------------------------------------


def test_queue_timeout_drops_the_waiting_connection_and_restart_on_same_port():
    _require_standin()
    with timescale_standin(queue_timeout_ms=1000) as url:
        port = urlsplit(url).port
        first = psycopg2.connect(url)
        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(url, connect_timeout=20)
        assert 0.8 <= time.monotonic() - started < 10
        first.close()
    # Stop, then start again on the very same port, twice (repeated start/stop in one session).
    for _ in range(2):
        with timescale_standin(port) as again:
            assert f":{port}/" in again
            conn = psycopg2.connect(again)
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('pg_class') IS NOT NULL, count(*) FROM pg_extension")
                assert cur.fetchone() == (True, 1)  # a fresh in-memory cluster: only plpgsql
            conn.close()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server still listens after the context exited"


def test_port_in_use_gives_a_clear_error():
    _require_standin()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StandinError, match=r"(?s)exited with code 1.*cannot listen"), timescale_standin(port):
            pass


def test_server_exits_cleanly_on_sigterm_sigint_and_stdin_close():
    _require_standin()
    install()
    for how in ("SIGTERM", "SIGINT", "stdin"):
        env = dict(os.environ, STANDIN_EXIT_ON_STDIN_CLOSE="1")
        proc = subprocess.Popen(
            ["node", "server.mjs"],
            cwd=STANDIN_DIR,
            env={**env, "PORT": "0"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = proc.stdout.readline()
            assert line.startswith(READY_PREFIX), line + proc.stderr.read()
            port = int(line.split("port=")[1].split()[0])
            conn = psycopg2.connect(f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable")
            if how == "stdin":
                proc.stdin.close()
            else:
                proc.send_signal(getattr(signal, how))
            assert proc.wait(timeout=15) == 0, proc.stderr.read()
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _wire(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _read_until_ready(sock: socket.socket) -> list[tuple[str, bytes]]:
    buf, out = b"", []
    while True:
        while len(buf) < 5 or len(buf) < 1 + struct.unpack("!i", buf[1:5])[0]:
            data = sock.recv(65536)
            assert data, f"server closed the connection after {out}"
            buf += data
        size = 1 + struct.unpack("!i", buf[1:5])[0]
        kind, body, buf = chr(buf[0]), buf[5:size], buf[size:]
        out.append((kind, body))
        if kind == "Z" or (kind == "R" and struct.unpack("!i", body[:4])[0] == 5):
            return out


def test_extended_query_protocol_and_byte_by_byte_messages(dsn):
    """psycopg2 only speaks the simple protocol; other drivers use Parse/Bind/Execute/Sync. Raw socket check."""
    port = urlsplit(dsn).port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        params = b"user\0postgres\0database\0postgres\0\0"
        sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        kind, body = _read_until_ready(sock)[-1]
        if kind == "R":  # md5 challenge: any password does
            inner = hashlib.md5(b"postgrespostgres").hexdigest().encode()
            sock.sendall(_wire(b"p", b"md5" + hashlib.md5(inner + body[4:8]).hexdigest().encode() + b"\0"))
            assert _read_until_ready(sock)[-1] == ("Z", b"I")
        good = (
            _wire(b"P", b"\0select $1::int + 1\0" + struct.pack("!h", 0))
            + _wire(b"B", b"\0\0" + struct.pack("!hhi", 0, 1, 1) + b"5" + struct.pack("!h", 0))
            + _wire(b"E", b"\0" + struct.pack("!i", 0))
            + _wire(b"S", b"")
        )
        sock.sendall(good)
        replies = _read_until_ready(sock)
        assert [k for k, _ in replies] == ["1", "2", "D", "C", "Z"] and replies[2][1].endswith(b"6")
        bad = _wire(b"P", b"\0selec bogus\0" + struct.pack("!h", 0)) + _wire(b"E", b"\0\0\0\0\0") + _wire(b"S", b"")
        sock.sendall(bad)
        assert [k for k, _ in _read_until_ready(sock)] == ["E", "Z"]  # skipped to Sync, session usable
        simple = _wire(b"Q", b"select 42\0")
        for i in range(len(simple)):  # one byte per TCP write
            sock.sendall(simple[i : i + 1])
            time.sleep(0.001)
        replies = _read_until_ready(sock)
        assert [k for k, _ in replies] == ["T", "D", "C", "Z"] and replies[1][1].endswith(b"42")
        sock.sendall(_wire(b"X", b""))
