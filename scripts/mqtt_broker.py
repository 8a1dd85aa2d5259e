"""The project's Mosquitto: local TLS + device credentials (issue 9, DESIGN §9), and the one renderer of its
configuration (deploy/mosquitto/mosquitto.conf) for the run command and the tests.

  python -m scripts.mqtt_broker secrets [--dir .data/mqtt-tls] [--device ID]... [--san DNS:host | IP:a.b.c.d]... [--renew]
                                        [--broker-user NAME|UID]
  python -m scripts.mqtt_broker render --port P --data DIR [--tls-port P --tls-dir DIR [--tls-address A]]

`secrets` makes, for local use, in the data directory (git-ignored; created at the first run, reused and
completed after):
  ca.crt / ca.key            a CA of this checkout (EC P-256, 10 years); give ca.crt to the clients
  broker/server.crt, .key    the broker's certificate, signed by that CA: SAN localhost + 127.0.0.1 (+ --san)
  broker/passwd              Mosquitto's password file, hashed by `mosquitto_passwd` (Debian's mosquitto)
  broker/acl                 each device may publish on its own topic only (madinina/<commune>/<kind>/<id>);
                             the consumer and the bridge read madinina/#; the simulator writes madinina/#
  clients/<account>.password one password per account (192 bits): every sensor id of the catalogue
                             (ingestion/catalogue.py), madinina-consumer, madinina-bridge, madinina-simulator
Secrets (keys, passwords, the password file) are mode 0600 in 0700 directories; as root, broker/ belongs to the
user Mosquitto drops to (`mosquitto`; --broker-user for another, e.g. 1883 for the eclipse-mosquitto image),
which reads it after dropping its privileges, and the top directory is 0711 so that user can reach broker/.
Run it again after adding sensors: new accounts get passwords, the password file and the ACL are rewritten,
existing passwords and certificates are kept (--renew makes a new server certificate). A sensor added at run
time (`ingestion sensors add`, not in the code's catalogue) gets its account with `--device ID` (its ACL topic
madinina/+/+/<ID>: its own id, whatever commune and kind); it is kept by later runs (its password file is there;
delete that file to remove the account).

`render` prints the shipped file with its substitutable lines set: the loopback listener's port and the
persistence directory; with --tls-*, also its TLS section switched on (the `#tls ` prefix removed), its listener
on that port and address (127.0.0.1 by default) and its paths under that directory instead of /mosquitto/tls/.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONF = PROJECT_ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
DEFAULT_DIR = PROJECT_ROOT / ".data" / "mqtt-tls"
CONTAINER_DIR = "/mosquitto/tls"  # where the file's TLS lines find the secrets (deploy/compose.yaml mounts them)
TLS_PREFIX = "#tls "

CONSUMER, BRIDGE, SIMULATOR = "madinina-consumer", "madinina-bridge", "madinina-simulator"
# The simulator speaks for the whole simulated fleet over one connection, as a gateway would; a real device
# gets its own account, limited to its own topic.
SERVICE_ACL = {CONSUMER: "read madinina/#", BRIDGE: "read madinina/#", SIMULATOR: "write madinina/#"}
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # also valid in Mosquitto's password and ACL files as is

_LISTENER = re.compile(r"^listener 1883 127\.0\.0\.1$", re.M)
_PERSISTENCE = re.compile(r"^persistence_location \S+$", re.M)
_TLS_LISTENER = re.compile(r"^listener 8883$", re.M)


@dataclass(frozen=True)
class TlsListener:
    port: int
    directory: Path
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class Secrets:
    directory: Path = DEFAULT_DIR

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def broker(self) -> Path:
        return self.directory / "broker"

    def password_file(self, account: str) -> Path:
        return self.directory / "clients" / f"{account}.password"

    def password(self, account: str) -> str:
        return self.password_file(account).read_text(encoding="utf-8").strip()


def _one(pattern: re.Pattern, line: str, text: str, what: str) -> str:
    text, n = pattern.subn(line, text)
    if n != 1:
        raise ValueError(f"{what}: expected exactly one line matching {pattern.pattern!r}, found {n}")
    return text


def render(port: int, persistence_dir: Path, *, tls: TlsListener | None = None, text: str | None = None) -> str:
    """The shipped file with its substitutable lines set; fails if one is not there exactly once (so the file
    cannot drift away from what the run command and the tests start)."""
    text = SHIPPED_CONF.read_text(encoding="utf-8") if text is None else text
    text = _one(_LISTENER, f"listener {port} 127.0.0.1", text, SHIPPED_CONF.name)
    text = _one(_PERSISTENCE, f"persistence_location {persistence_dir}", text, SHIPPED_CONF.name)
    if tls is None:
        return text
    lines = text.splitlines(keepends=True)
    if not any(line.startswith(TLS_PREFIX) for line in lines):
        raise ValueError(f"{SHIPPED_CONF.name}: no TLS section (lines starting with {TLS_PREFIX!r})")
    text = "".join(line.removeprefix(TLS_PREFIX) for line in lines)
    text = _one(_TLS_LISTENER, f"listener {tls.port} {tls.address}", text, "TLS section")
    return text.replace(CONTAINER_DIR + "/", f"{tls.directory}/")


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()[-1000:]}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _broker_uid(broker_user: str | None) -> int | None:
    """Whose broker/ is: only as root (Mosquitto started as root drops to its user; otherwise it stays the user
    who started it, who owns the files already)."""
    if os.geteuid() != 0:
        return None
    name = broker_user or "mosquitto"
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        if broker_user is None:
            return None  # no `mosquitto` user: Mosquitto runs as root or as `nobody`, and says so if it cannot read
        raise ValueError(f"no such user: {broker_user}") from None


def _certificates(s: Secrets, sans: list[str], renew: bool) -> None:
    ca_key = s.directory / "ca.key"
    if not ca_key.exists() or not s.ca_cert.exists():
        _openssl(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(ca_key), "-out", str(s.ca_cert), "-days", "3650",
            "-subj", "/CN=Madinina Monitor local MQTT CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        renew = True  # a new CA: the server certificate must be signed again
    cert, key = s.broker / "server.crt", s.broker / "server.key"
    if cert.exists() and key.exists() and not renew:
        return
    names = ["DNS:localhost", "IP:127.0.0.1", *sans]
    with tempfile.TemporaryDirectory(dir=s.directory) as work:
        csr, ext = Path(work) / "server.csr", Path(work) / "server.ext"
        ext.write_text(
            f"subjectAltName={','.join(names)}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(s.ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
            "-CAserial", str(Path(work) / "ca.srl"), "-out", str(cert), "-days", "825", "-extfile", str(ext),
        )  # fmt: skip


def generate(
    directory: Path = DEFAULT_DIR,
    *,
    sensor_ids: list[str] | None = None,
    devices: list[str] = (),
    sans: list[str] = (),
    renew: bool = False,
    broker_user: str | None = None,
) -> Secrets:
    """Make (or complete) the broker's TLS and credential files; see the module's docstring."""
    from ingestion.catalogue import SENSORS_BY_ID as by_id
    from ingestion.transports.topics import sensor_topic

    if sensor_ids is None:
        sensor_ids = list(by_id)
    s = Secrets(directory)
    # Devices outside the code's catalogue (added with `ingestion sensors add`): named once with --device, kept
    # after through their password file, so a later run without --device does not drop them.
    kept = {p.name.removesuffix(".password") for p in s.password_file("x").parent.glob("*.password")}
    sensor_ids = [*sensor_ids, *sorted((kept | set(devices)) - set(SERVICE_ACL) - set(sensor_ids))]

    mosquitto_passwd = shutil.which("mosquitto_passwd")
    if mosquitto_passwd is None:
        raise RuntimeError("mosquitto_passwd not found: apt-get install mosquitto (or scripts/setup.sh dev)")
    accounts = [*SERVICE_ACL, *sensor_ids]
    bad = [a for a in accounts if not _ACCOUNT.match(a)]
    if bad:
        raise ValueError(f"account names must match {_ACCOUNT.pattern}: {bad[:5]}")
    uid = _broker_uid(broker_user)
    s.directory.parent.mkdir(parents=True, exist_ok=True)  # with the usual modes: only what is made below is private
    old_umask = os.umask(0o077)  # every file made here (keys included) starts private
    try:
        for folder in (s.directory, s.broker, s.password_file("x").parent):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
        if uid is not None:
            s.directory.chmod(0o711)  # traversable by the broker's user (to reach broker/), not listable
            for parent in s.directory.parents:
                if parent != Path("/") and not parent.stat().st_mode & 0o001:
                    parent.chmod(parent.stat().st_mode | 0o001)
        _certificates(s, list(sans), renew)
        s.ca_cert.chmod(0o644)  # public: what clients verify the broker with
        for account in accounts:
            if not s.password_file(account).exists():
                _write_private(s.password_file(account), secrets.token_urlsafe(24) + "\n")
        plain = s.broker / "passwd.new"
        _write_private(plain, "".join(f"{a}:{s.password(a)}\n" for a in accounts))
        proc = subprocess.run([mosquitto_passwd, "-U", str(plain)], capture_output=True, text=True)
        if proc.returncode != 0:
            plain.unlink()
            raise RuntimeError(f"mosquitto_passwd -U failed: {proc.stderr.strip()[-500:]}")
        os.replace(plain, s.broker / "passwd")
        acl = [
            "# Written by scripts/mqtt_broker.py: each device publishes on its own topic only (nothing else, no",
            "# reading); the consumer and the bridge read everything under madinina/; the simulator writes there.",
        ]
        for account, rule in SERVICE_ACL.items():
            acl += ["", f"user {account}", f"topic {rule}"]
        for sensor_id in sensor_ids:
            topic = sensor_topic(by_id[sensor_id]) if sensor_id in by_id else f"madinina/+/+/{sensor_id}"
            acl += ["", f"user {sensor_id}", f"topic write {topic}"]
        _write_private(s.broker / "acl", "\n".join(acl) + "\n")
        if uid is not None:
            for path in (s.broker, *s.broker.iterdir()):
                os.chown(path, uid, -1)
    finally:
        os.umask(old_umask)
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.mqtt_broker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("secrets", help="CA, server certificate, password file, ACL, client passwords")
    make.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    make.add_argument("--device", action="append", default=[], help="a sensor id not in the code's catalogue")
    make.add_argument("--san", action="append", default=[], help="another name of the broker, e.g. DNS:mqtt.lan")
    make.add_argument("--renew", action="store_true", help="a new server certificate")
    make.add_argument("--broker-user", help="as root: the user Mosquitto drops to (default mosquitto)")
    conf = sub.add_parser("render", help="print the shipped configuration with its substitutable lines set")
    conf.add_argument("--port", type=int, required=True)
    conf.add_argument("--data", type=Path, required=True)
    conf.add_argument("--tls-port", type=int)
    conf.add_argument("--tls-dir", type=Path, default=DEFAULT_DIR)
    conf.add_argument("--tls-address", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        if args.command == "secrets":
            made = generate(
                args.dir, devices=args.device, sans=args.san, renew=args.renew, broker_user=args.broker_user
            )
            print(f"MQTT TLS and credentials in {made.directory} (CA for clients: {made.ca_cert})")
        else:
            tls = TlsListener(args.tls_port, args.tls_dir.resolve(), args.tls_address) if args.tls_port else None
            sys.stdout.write(render(args.port, args.data.resolve(), tls=tls))
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
