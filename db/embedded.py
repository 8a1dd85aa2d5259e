"""The embedded default: a PostgreSQL server the project starts itself in a project-local data directory.

It uses the PostgreSQL binaries of the machine (Debian's postgresql-15, installed by scripts/setup.sh), so
nothing is installed by hand and no server is configured. The cluster is created once and reused: stopping
and starting keeps the data. It listens on 127.0.0.1 (and a Unix socket in its data directory) and asks every
role for its password on every connection type, replication included (scram-sha-256; `pg_hba.conf` is written
at each start and never says `trust`). The passwords are generated at the first start and kept next to the
cluster (db/credentials.py); each start makes sure the three roles exist and have them.

A data directory made before passwords existed (with `trust`) is converted on its next start: stopped, its
pg_hba.conf is rewritten and the owner's password set in single-user mode (no network) before the server
starts; running, the password is set through it and its configuration reloaded. A lost password file is
handled the same way (stop the server, start it again: new passwords are generated and set).

TimescaleDB: when the extension is installed for these binaries (scripts/setup.sh builds it from the vendored
archive), the server starts with `shared_preload_libraries = 'timescaledb'` and telemetry off, and the migration
runner creates the extension: the TimescaleDB branch of DESIGN §2. Otherwise it is plain PostgreSQL. The choice is
made at every start and written to `madinina.conf` in the data directory (included by postgresql.conf), so a data
directory created on plain PostgreSQL switches to TimescaleDB on its first start after the extension is installed
(`python -m db migrate`, run by `db up`, then converts its tables in place; see db/migrate.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from db.credentials import ROLE_USERS, SUPERUSER, USERS, Credentials, CredentialsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data" / "postgres"
DEFAULT_PORT = 54329
DATABASE = "madinina"


MANAGED_CONF = "madinina.conf"
_INCLUDE = f"include_if_exists = '{MANAGED_CONF}'"
_HBA_HEADER = "# Written by db/embedded.py at each start: do not edit (it is rewritten)."
# Every connection type, replication included, asks for the password; nothing is trusted. The server listens on
# 127.0.0.1 and its own socket only (postgresql.conf), so these lines do not need to name more addresses.
_HBA = f"""{_HBA_HEADER}
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


class EmbeddedError(RuntimeError):
    pass


def timescaledb_installed(bindir: Path | None = None) -> bool:
    """Is the TimescaleDB extension installed for these PostgreSQL binaries (library + control file)?"""
    bindir = bindir or _bindir()
    # Debian's layout, which PostgreSQL finds relative to its binaries: <prefix>/lib/postgresql/15/{bin,lib} and
    # <prefix>/share/postgresql/15/extension.
    share = bindir.parent.parent.parent.parent / "share" / "postgresql" / bindir.parent.name
    return (bindir.parent / "lib" / "timescaledb.so").exists() and (
        share / "extension" / "timescaledb.control"
    ).exists()


def _bindir() -> Path:
    override = os.environ.get("MADININA_PG_BINDIR")  # another PostgreSQL installation's bin/ (its own lib/ + share/)
    if override:
        return Path(override)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if candidates:
        return candidates[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).parent
    raise EmbeddedError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH). "
        "Run `bash scripts/setup.sh` (it installs Debian's postgresql package)."
    )


def _run_as() -> list[str]:
    # PostgreSQL refuses to run as root; as root we run it as the `postgres` system user.
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path = DEFAULT_DATA_DIR
    port: int = DEFAULT_PORT
    # None = TimescaleDB when installed (the default); False = plain PostgreSQL even when installed (the tests'
    # plain branch); True = TimescaleDB or an error.
    timescaledb: bool | None = None

    @property
    def uses_timescaledb(self) -> bool:
        if self.timescaledb is None:
            return timescaledb_installed()
        if self.timescaledb and not timescaledb_installed():
            raise EmbeddedError("TimescaleDB is not installed for these PostgreSQL binaries: run scripts/setup.sh")
        return self.timescaledb

    @property
    def credentials(self) -> Credentials:
        """The roles' passwords, next to the cluster like its log (`.data/postgres-credentials/`)."""
        return Credentials(self.data_dir.parent / f"{self.data_dir.name}-credentials")

    def url(self, database: str = DATABASE, user: str = SUPERUSER) -> str:
        """A URL for this role that carries no password: it names the password file, which libpq reads."""
        return (
            f"postgresql://{quote(user, safe='')}@127.0.0.1:{self.port}/{quote(database, safe='')}"
            f"?passfile={quote(str(self.credentials.passfile), safe='/')}"
        )

    @property
    def dsn(self) -> str:
        return self.url()

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _pg(self, tool: str, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [*_run_as(), str(_bindir() / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
        if check and proc.returncode != 0:
            raise EmbeddedError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _ensure_cluster(self) -> bool:
        """Create the cluster when there is none; True when created now."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            # The postgres user must be able to reach the data dir through the project folders.
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        # `reject` until start() writes the real pg_hba.conf and sets the owner's password (single-user mode):
        # the cluster never accepts a connection without a password, not even once.
        self._pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=reject",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# Madinina Monitor embedded default\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.data_dir}'\n"
                "timezone = 'UTC'\n"
                "shared_buffers = '256MB'\n"
                "max_connections = 100\n"
                "max_wal_size = '2GB'\n"
            )
        return True

    def _configure(self) -> None:
        """Write the per-start settings (the branch) to madinina.conf, and include it from postgresql.conf once
        (a data directory made before this file existed gets the include line on its next start)."""
        conf = self.data_dir / "postgresql.conf"
        if _INCLUDE not in conf.read_text(encoding="utf-8"):
            with open(conf, "a", encoding="utf-8") as handle:
                handle.write(f"\n# Madinina Monitor: settings chosen at each start (db/embedded.py)\n{_INCLUDE}\n")
        lines = [
            "# Written by db/embedded.py at each start: do not edit (it is rewritten).",
            "password_encryption = 'scram-sha-256'",
        ]
        if self.uses_timescaledb:
            # Its job scheduler (compression/retention policies) takes one background worker per database and
            # one per running job, from max_worker_processes (8 by default, also shared with parallel queries).
            lines += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.telemetry_level = off",
                "timescaledb.max_background_workers = 8",
                "max_worker_processes = 16",
            ]
        (self.data_dir / MANAGED_CONF).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _hba(self) -> str:
        hba = self.data_dir / "pg_hba.conf"
        return hba.read_text(encoding="utf-8") if hba.exists() else ""

    def _write_hba(self) -> None:
        hba = self.data_dir / "pg_hba.conf"
        temporary = hba.with_name("pg_hba.conf.tmp")
        temporary.write_text(_HBA, encoding="utf-8")
        temporary.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(temporary, "postgres", "postgres")
        os.replace(temporary, hba)

    def _set_owner_password_offline(self, password: str) -> None:
        """Set the owner's password with the server stopped, in single-user mode: no network, no pg_hba.conf."""
        literal = "'" + password.replace("'", "''") + "'"
        statement = f'ALTER ROLE "{SUPERUSER}" PASSWORD {literal};\n'
        proc = self._pg(
            "postgres",
            "--single",
            "-D",
            str(self.data_dir),
            "-c",
            "exit_on_error=on",
            "postgres",
            stdin=statement,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip()).replace(password, "***")
            raise EmbeddedError(f"setting the owner's password (single-user mode) failed: {detail[-2000:]}")

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        proc = self._pg("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        if proc.returncode == 4:  # "no accessible data directory": not knowing must not read as "stopped"
            raise EmbeddedError(f"pg_ctl status: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.returncode == 0

    def start(self, timeout_s: int = 60) -> str:
        """Create (first time) and start the cluster, with every role's password set and pg_hba.conf asking for
        it; create the database; return the owner's URL."""
        created = self._ensure_cluster()
        try:
            passwords, new_file = self.credentials.ensure()
        except (CredentialsError, OSError) as exc:
            raise EmbeddedError(f"password file {self.credentials.passfile}: {exc}") from exc
        # The cluster's owner may not have the file's password yet: a new cluster, a file made just now, or a data
        # directory from before passwords (its pg_hba.conf is not ours).
        legacy = not self._hba().startswith(_HBA_HEADER)
        reset_owner = created or new_file or legacy
        reload = False
        if not self.is_running():
            if _port_in_use(self.port):
                raise EmbeddedError(
                    f"port {self.port} is already taken by another program; set MADININA_PG_PORT to a free port"
                )
            self._configure()
            self._write_hba()
            if reset_owner:
                self._set_owner_password_offline(passwords[SUPERUSER])
            self.log_file.touch()
            if os.geteuid() == 0:
                shutil.chown(self.log_file, "postgres", "postgres")
            self._pg(
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(timeout_s),
                "-o",
                f"-p {self.port}",
            )
        elif reset_owner:
            if not legacy:
                if new_file:  # made just now, matches nothing: the next (stopped) start must make and set its own
                    self.credentials.passfile.unlink(missing_ok=True)
                raise EmbeddedError(
                    f"{self.credentials.passfile} was just created, but the server already runs with passwords of "
                    "its own: stop it (`python -m db stop`) and start it again; the passwords are set while it is "
                    "stopped"
                )
            self._convert_running_trust_server(passwords[SUPERUSER])
        elif self._hba() != _HBA:  # ours, from another version of this code: replaced, then reloaded
            self._write_hba()
            reload = True
        self._wait_ready(timeout_s)
        self._ensure_roles(passwords, reload=reload)
        self._ensure_database()
        return self.dsn

    def _convert_running_trust_server(self, owner_password: str) -> None:
        """A server started by older code, with `trust`: set the owner's password through it, then replace its
        pg_hba.conf and reload, after which it asks for passwords."""
        import psycopg2

        conn = psycopg2.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres", connect_timeout=10)
        try:
            conn.autocommit = True
            set_password(conn, SUPERUSER, owner_password)
            self._write_hba()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.is_running():
            self._pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")

    def _wait_ready(self, timeout_s: int) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self._pg("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise EmbeddedError(f"embedded PostgreSQL did not become ready in {timeout_s}s; see {self.log_file}")

    def _ensure_roles(self, passwords: dict[str, str], *, reload: bool = False) -> None:
        """Each role exists and has the password file's password (set at every start: a changed
        MADININA_*_PASSWORD takes effect, and a role made by someone else gets its password). Migration 0003
        grants their privileges."""
        import psycopg2

        try:
            conn = psycopg2.connect(self.url("postgres"), connect_timeout=10)
        except psycopg2.OperationalError as exc:
            if "password authentication failed" not in str(exc):
                raise
            raise EmbeddedError(
                f"the owner's password in {self.credentials.passfile} is not this server's (a data directory or a "
                "password file copied from elsewhere?): stop the server (`python -m db stop`), delete that file and "
                "start again; new passwords are then generated and set"
            ) from exc
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for user in ROLE_USERS.values():
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE ROLE "{user}" LOGIN')
                if reload:
                    cur.execute("SELECT pg_reload_conf()")
            for user in USERS.values():
                set_password(conn, user, passwords[user])
        finally:
            conn.close()

    def _ensure_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            conn.close()


def set_password(conn, user: str, password: str) -> None:
    """ALTER ROLE … PASSWORD with the verifier computed here by libpq, in the server's password_encryption
    (scram-sha-256 on the embedded server): the password itself never travels, nor lands in a server log."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    verifier = encrypt_password(password, user, conn)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(verifier)))


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def from_environment() -> EmbeddedPostgres:
    data_dir = Path(os.environ.get("MADININA_PG_DATA", DEFAULT_DATA_DIR))
    return EmbeddedPostgres(data_dir=data_dir, port=int(os.environ.get("MADININA_PG_PORT", DEFAULT_PORT)))
