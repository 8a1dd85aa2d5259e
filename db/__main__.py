"""`python -m db up|stop|status|url|migrate` — manage the embedded default and the schema."""

from __future__ import annotations

import argparse
import os
import sys

import psycopg2

from db import embedded, migrate, settings


def _set_role_passwords(dsn: str) -> None:
    # Passwords never live in migrations; an operator passes them through the environment.
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for role, user in settings.ROLE_USERS.items():
                password = os.environ.get(f"MADININA_{role.upper()}_PASSWORD")
                if password:
                    cur.execute(f"ALTER ROLE {user} PASSWORD %s", (password,))
    finally:
        conn.close()


def up() -> str:
    """Start the embedded server when no DATABASE_URL is configured, then migrate. Returns the owner DSN."""
    if settings.is_embedded():
        server = embedded.from_environment()
        print(f"embedded PostgreSQL: {server.data_dir} on 127.0.0.1:{server.port}", flush=True)
        dsn = server.start()
    else:
        dsn = settings.owner_url()
    applied = migrate.migrate(dsn)
    _set_role_passwords(dsn)
    print(f"migrations applied now: {', '.join(applied) if applied else 'none (up to date)'}", flush=True)
    return dsn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description=__doc__)
    parser.add_argument("command", choices=["up", "stop", "status", "url", "migrate"])
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
        elif args.command == "url":
            print(settings.redacted(settings.owner_url()))
    except (embedded.EmbeddedError, migrate.MigrationError, psycopg2.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
