"""`python -m db up|stop|status|url|migrate|watch` — manage the embedded default and the schema.

`watch` is the embedded server's watchdog (scripts/run.sh runs it): every few seconds it checks that the
server runs and starts it again if it died, saying so once per outage.
`url [--role owner|writer|reader]` prints a role's connection URL, e.g. `psql "$(python -m db url --role reader)"`:
for the embedded server it names the password file instead of containing a password; a password given through
the environment is shown as ***."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import psycopg2

from db import credentials, embedded, migrate, settings


def _set_role_passwords(dsn: str) -> None:
    # An external server: passwords never live in migrations; an operator passes them through the environment.
    # (The embedded server sets its roles' passwords itself at each start: db/embedded.py.)
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        for role, user in credentials.ROLE_USERS.items():
            password = credentials.env_password(role)
            if password:
                embedded.set_password(conn, user, password)
    finally:
        conn.close()


def up() -> str:
    """Start the embedded server when no DATABASE_URL is configured, then migrate. Returns the owner DSN."""
    if settings.is_embedded():
        server = embedded.from_environment()
        print(f"embedded PostgreSQL: {server.data_dir} on 127.0.0.1:{server.port}", flush=True)
        dsn = server.start()
        print(
            f"role passwords: {server.credentials.passfile} (python -m db url --role owner|writer|reader)", flush=True
        )
    else:
        dsn = settings.owner_url()
    applied = migrate.migrate(dsn)
    if not settings.is_embedded():
        _set_role_passwords(dsn)
    print(f"migrations applied now: {', '.join(applied) if applied else 'none (up to date)'}", flush=True)
    print(f"database: {migrate.branch(dsn)}", flush=True)
    return dsn


def watch(every: float = 2.0) -> int:
    """Restart the embedded server whenever it is found stopped, until SIGTERM / SIGINT. One line when it is
    found down, one when it is back; failed attempts in between (e.g. old backends still holding the shared
    memory right after a SIGKILL of the postmaster) are retried quietly on the next check."""
    if not settings.is_embedded():
        print("watch: DATABASE_URL is set, no embedded server to watch", flush=True)
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_a: stop.set())
    server = embedded.from_environment()
    print(
        f"watch: embedded PostgreSQL {server.data_dir} on 127.0.0.1:{server.port}, checked every {every:g}s", flush=True
    )
    down_since: float | None = None
    reported = False
    while not stop.is_set():
        if not server.is_running() and not stop.is_set():
            if down_since is None:
                down_since, reported = time.monotonic(), False
                print("watch: embedded PostgreSQL is not running; starting it again", flush=True)
            try:
                server.start()
            except (embedded.EmbeddedError, psycopg2.Error) as exc:
                if not reported and time.monotonic() - down_since > 60:
                    print(f"watch: still down after 60s, keeps trying; last error: {exc}", file=sys.stderr, flush=True)
                    reported = True
        elif down_since is not None:
            print(f"watch: embedded PostgreSQL is back after {time.monotonic() - down_since:.1f}s", flush=True)
            down_since = None
        stop.wait(every)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description=__doc__)
    parser.add_argument("command", choices=["up", "stop", "status", "url", "migrate", "watch"])
    parser.add_argument("--every", type=float, default=2.0, help="watch: seconds between checks (default 2)")
    parser.add_argument("--role", choices=["owner", "writer", "reader"], default="owner", help="url: which role")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up()
        elif args.command == "migrate":
            applied = migrate.migrate(settings.owner_url())
            print("applied:", ", ".join(applied) or "none (up to date)")
        elif args.command == "stop":
            embedded.from_environment().stop()
            print("embedded PostgreSQL stopped")
        elif args.command == "status":
            server = embedded.from_environment()
            print("running" if server.is_running() else "stopped", server.data_dir)
        elif args.command == "watch":
            return watch(args.every)
        elif args.command == "url":
            print(settings.redacted(settings.database_url(args.role)))
    except (embedded.EmbeddedError, migrate.MigrationError, psycopg2.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
