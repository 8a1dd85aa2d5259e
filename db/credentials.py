"""The embedded server's role passwords (DESIGN §9): generated at the first start, kept next to the cluster, reused.

One file per cluster, `<data dir>-credentials/pgpass` (`.data/postgres-credentials/pgpass` for the default
cluster): a libpq password file (`*:*:*:user:password` lines; mode 0600 in a 0700 directory), so the project's
URLs name it (`?passfile=…`) instead of carrying a password, and `psql`, psycopg2 and SQLAlchemy read it
themselves. It holds the three roles: the owner (`postgres`: migrations, administration), `madinina_writer`
(ingestion) and `madinina_reader` (dashboard, Grafana). MADININA_WRITER_PASSWORD / MADININA_READER_PASSWORD,
when set, replace the stored password of that role (the server then sets it on the role at its start); the
owner's password is always generated. Passwords are never printed.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
ROLE_USERS = {"writer": "madinina_writer", "reader": "madinina_reader"}
USERS = {"owner": SUPERUSER, **ROLE_USERS}
PASSFILE = "pgpass"


class CredentialsError(RuntimeError):
    pass


def env_password(role: str) -> str | None:
    """The operator's password for a role from MADININA_<ROLE>_PASSWORD (writer and reader only)."""
    if role not in ROLE_USERS:
        return None
    return os.environ.get(f"MADININA_{role.upper()}_PASSWORD") or None


def _escape(field: str) -> str:
    if "\n" in field or "\r" in field or "\0" in field:
        raise CredentialsError("a password cannot contain a line break or a NUL character")
    return field.replace("\\", "\\\\").replace(":", "\\:")


def _fields(line: str) -> list[str]:
    # libpq's format: ':' separates, '\' escapes the next character.
    fields, current, chars = [], [], iter(line)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    return [*fields, "".join(current)]


@dataclass(frozen=True)
class Credentials:
    directory: Path

    @property
    def passfile(self) -> Path:
        return self.directory / PASSFILE

    def load(self) -> dict[str, str]:
        """user -> password, from the password file (empty when there is none)."""
        if not self.passfile.exists():
            return {}
        found = {}
        for line in self.passfile.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                fields = _fields(line)
                if len(fields) == 5:
                    found[fields[3]] = fields[4]
        return found

    def password(self, user: str) -> str:
        try:
            return self.load()[user]
        except KeyError:
            raise CredentialsError(f"no password for {user} in {self.passfile}") from None

    def ensure(self) -> tuple[dict[str, str], bool]:
        """The passwords of the three roles (user -> password): stored ones reused, missing ones generated,
        the environment's overrides applied; written back when anything changed. Also says whether the file
        was created now (then no role of an existing cluster has these passwords yet)."""
        with self._locked():
            stored = self.load()
            wanted = dict(stored)
            for role, user in USERS.items():
                wanted[user] = env_password(role) or stored.get(user) or secrets.token_urlsafe(24)
            if wanted != stored or not self._private():
                self._write(wanted)
            return {user: wanted[user] for user in USERS.values()}, not stored

    def _private(self) -> bool:
        return (self.passfile.stat().st_mode & 0o777) == 0o600 and (self.directory.stat().st_mode & 0o777) == 0o700

    @contextmanager
    def _locked(self):
        # Two starts at once (`db up` and the watchdog, two test processes) must agree on one set of passwords.
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, passwords: dict[str, str]) -> None:
        lines = [
            "# Madinina Monitor: passwords of the embedded PostgreSQL's roles (db/credentials.py). Keep private.",
            *(f"*:*:*:{_escape(user)}:{_escape(password)}" for user, password in passwords.items()),
        ]
        temporary = self.directory / f".{PASSFILE}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.passfile)
