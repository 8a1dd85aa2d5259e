"""Where the database is, for each role.

Order of precedence (first found wins):
1. environment: DATABASE_URL (owner: migrations), WRITER_DATABASE_URL (ingestion), DASHBOARD_DATABASE_URL
   (dashboard, read-only role);
2. `.streamlit/secrets.toml`, section [connections.madinina], key `url` (dashboard) — Streamlit's own convention;
3. the embedded default (db/embedded.py): a project-local PostgreSQL on 127.0.0.1.
A role URL that is not given is derived from the owner URL by switching the user to the role
(madinina_writer / madinina_reader). With an external server the password comes from MADININA_WRITER_PASSWORD /
MADININA_READER_PASSWORD. With the embedded server every URL names the cluster's password file (`?passfile=`,
db/credentials.py) instead of carrying a password; a derived URL keeps it, so the role's own password is used.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from db.credentials import ROLE_USERS, env_password
from db.embedded import PROJECT_ROOT, from_environment

Role = Literal["owner", "writer", "reader"]
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


def is_embedded() -> bool:
    return not os.environ.get("DATABASE_URL")


def owner_url() -> str:
    return os.environ.get("DATABASE_URL") or from_environment().dsn


def _secrets_url(path: Path | None = None) -> str | None:
    path = path or SECRETS_FILE
    if not path.exists():
        return None
    with open(path, "rb") as handle:
        secrets = tomllib.load(handle)
    return secrets.get("connections", {}).get("madinina", {}).get("url")


def with_user(url: str, user: str, password: str | None) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def database_url(role: Role = "owner") -> str:
    if role == "owner":
        return owner_url()
    explicit = os.environ.get("WRITER_DATABASE_URL" if role == "writer" else "DASHBOARD_DATABASE_URL")
    if explicit:
        return explicit
    if role == "reader":
        from_secrets = _secrets_url()
        if from_secrets:
            return from_secrets
    # Embedded: the password file (named by the owner URL) holds every role's password, the environment's
    # overrides included (written there at the server's start).
    password = None if is_embedded() else env_password(role)
    return with_user(owner_url(), ROLE_USERS[role], password)


def with_database(url: str, database: str) -> str:
    """The same server, role and options (e.g. `passfile`), another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment))


def redacted(url: str) -> str:
    """The URL without its password, for messages shown to people."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(":" + quote(parts.password, safe="") + "@", ":***@").replace(":" + parts.password + "@", ":***@")
