"""Apply the numbered SQL migrations in db/migrations, recording each one; refuse an edited one.

A migration, once applied, is never edited: its checksum is stored and compared on every run.

After the migrations, every run calls madinina_timescaledb() (migration 0009), which puts the database on the
TimescaleDB branch when the server has the extension preloaded (creating it and converting the tables of a
database that was plain until now) and sets the policies from the environment:
  MADININA_COMPRESS_AFTER  compress raw chunks older than this (PostgreSQL interval, default '7 days'; 'off' = none)
  MADININA_RAW_RETENTION   drop raw chunks older than this (default: keep everything; aggregates are always kept)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every runner so two of them never interleave.
_ADVISORY_LOCK = 4_862_001


DEFAULT_COMPRESS_AFTER = "7 days"

# Where the extension is installed but not preloaded (the plain branch on a machine that has TimescaleDB, e.g.
# the tests' plain cluster), `CREATE EXTENSION timescaledb` does not fail with an error that migration 0002 can
# catch: TimescaleDB's loader ends the whole session (FATAL "must be preloaded"). For the length of a run the
# runner therefore turns that statement into a plain ERROR before it starts, with an event trigger; 0002 catches
# it and stays on plain tables, as it says. The trigger lets it through where timescaledb is preloaded, so one
# left behind by a crashed run is harmless; it is dropped at the end of every run.
_GUARD_SQL = r"""
CREATE OR REPLACE FUNCTION madinina_timescaledb_guard() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_query() ~* 'create\s+extension\s+(if\s+not\s+exists\s+)?"?timescaledb'
       AND NOT ('timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''),
                                                     ','))) THEN
        RAISE EXCEPTION 'timescaledb is not in shared_preload_libraries on this server' USING ERRCODE = '55000';
    END IF;
END
$$;
DROP EVENT TRIGGER IF EXISTS madinina_timescaledb_guard;
CREATE EVENT TRIGGER madinina_timescaledb_guard ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
    EXECUTE FUNCTION madinina_timescaledb_guard();
"""
_UNGUARD_SQL = """
DROP EVENT TRIGGER IF EXISTS madinina_timescaledb_guard;
DROP FUNCTION IF EXISTS madinina_timescaledb_guard();
"""


class MigrationError(RuntimeError):
    pass


def _interval_setting(name: str, default: str | None) -> str | None:
    value = os.environ.get(name, default)
    if value is None or value.strip().lower() in ("", "off", "none"):
        return None
    return value.strip()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {directory}")
    return found


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now (empty when up to date)."""
    migrations = discover(directory)
    applied_now: list[str] = []
    guarded = False
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
            cur.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            conn.commit()
            guarded = _guard(conn)
            cur.execute("SELECT version, name, checksum FROM schema_migrations")
            recorded = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
        unknown = set(recorded) - {m.version for m in migrations}
        if unknown:
            raise MigrationError(f"database has migrations this code does not know: {sorted(unknown)}")
        for migration in migrations:
            if migration.version in recorded:
                name, checksum = recorded[migration.version]
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.path.name} was edited after it was applied "
                        f"(recorded as {migration.version:04d}_{name}); add a new migration instead"
                    )
                continue
            with conn.cursor() as cur:
                try:
                    cur.execute(migration.sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise MigrationError(f"migration {migration.path.name} failed: {exc}".strip()) from exc
            applied_now.append(migration.path.name)
        _timescaledb_branch(conn)
    finally:
        try:
            with conn.cursor() as cur:
                if not conn.closed and guarded:
                    conn.rollback()
                    cur.execute(_UNGUARD_SQL)
                cur.execute("SELECT pg_advisory_unlock_all()")
            conn.commit()
        finally:
            conn.close()
    return applied_now


def _guard(conn) -> bool:
    """Install the guard where timescaledb is available but not preloaded; True when installed."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') "
            "AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') "
            "AND NOT ('timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), "
            "' ', ''), ',')))"
        )
        if not cur.fetchone()[0]:
            conn.rollback()
            return False
        try:
            cur.execute(_GUARD_SQL)
        except psycopg2.errors.InsufficientPrivilege:
            # Not a superuser (an external server): nothing can be guarded, but such a server is set up by its
            # operator, with the extension preloaded if it is installed.
            conn.rollback()
            return False
    conn.commit()
    return True


def _timescaledb_branch(conn) -> str:
    """Run madinina_timescaledb() with the environment's policies; 'timescaledb' or 'plain'."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('madinina_timescaledb(interval, interval)') IS NOT NULL")
        if not cur.fetchone()[0]:  # a migrations directory without 0009 (tests of the runner itself)
            conn.rollback()
            return "plain"
        try:
            cur.execute(
                "SELECT madinina_timescaledb(%s::interval, %s::interval)",
                (
                    _interval_setting("MADININA_COMPRESS_AFTER", DEFAULT_COMPRESS_AFTER),
                    _interval_setting("MADININA_RAW_RETENTION", None),
                ),
            )
            branch = cur.fetchone()[0]
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            raise MigrationError(f"TimescaleDB setup (madinina_timescaledb) failed: {exc}".strip()) from exc
    return branch


def timescaledb_enabled(dsn: str) -> bool:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        return bool(cur.fetchone()[0])


def branch(dsn: str) -> str:
    """Which branch of DESIGN §2 the database is on, for people: e.g. 'TimescaleDB 2.28.3 on PostgreSQL 15.18'."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb')"
        )
        server, timescaledb = cur.fetchone()
    return f"TimescaleDB {timescaledb} on PostgreSQL {server}" if timescaledb else f"plain PostgreSQL {server}"
