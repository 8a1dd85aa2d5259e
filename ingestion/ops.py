"""Operator commands of `python -m ingestion`: the spooled consumer's wiring, `status`, `reconcile`, `sensors`."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from db import settings
from db.embedded import PROJECT_ROOT
from ingestion.cli_common import parse_duration
from ingestion.spool import DEFAULT_MAX_BYTES, read_stats

SPOOL_ROOT = Path(os.environ.get("MADININA_SPOOL_DIR", PROJECT_ROOT / ".data" / "spool"))


def writer_dsn(args) -> str:
    return args.database_url or settings.database_url("writer")


def spool_dir(args, name: str) -> Path:
    return Path(args.spool_dir) if getattr(args, "spool_dir", None) else SPOOL_ROOT / name


def add_spool_args(parser) -> None:
    parser.add_argument("--spool-dir", help=f"durable local spool (default {SPOOL_ROOT}/<name>)")
    parser.add_argument(
        "--spool-max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"spool bound; when full the broker keeps the rest (default {DEFAULT_MAX_BYTES:,}, ~12 h of the default network)",
    )


def open_ingest(args, *, dsn: str, name: str, source: str, stop: threading.Event, max_delay_s: float = 0.5, setup=None):
    """The spool -> processor -> database chain of a consumer; the caller starts it and feeds `offer()`."""
    from ingestion.processor import LiteProcessor
    from ingestion.registry import CatalogueWatcher
    from ingestion.service import SpooledIngest
    from ingestion.spool import Spool
    from ingestion.validation import Validator
    from ingestion.writer import Writer

    spool = Spool(spool_dir(args, name), max_bytes=args.spool_max_bytes)
    writer = Writer(dsn, processor="lite", retries=None, stop=stop)
    processor = LiteProcessor(writer, Validator(source=source), max_delay_s=max_delay_s)
    return SpooledIngest(spool, processor, name=name, catalogue=CatalogueWatcher(dsn), stop=stop, setup=setup)


# -- status -----------------------------------------------------------------------------------------------------
def _spool_dirs(args) -> list[Path]:
    if args.spool_dir:
        return [Path(args.spool_dir)]
    return sorted(p for p in SPOOL_ROOT.glob("*") if (p / "spool.sqlite3").exists()) if SPOOL_ROOT.exists() else []


def _local_status(directory: Path) -> dict:
    status_file = directory / "status.json"
    last = {}
    if status_file.exists():
        try:
            last = json.loads(status_file.read_text())
        except (OSError, ValueError):
            last = {}
    stats = read_stats(directory, max_bytes=last.get("max_bytes"))
    spool = {"depth": 0, "bytes": 0, "max_bytes": last.get("max_bytes"), "oldest_received_at": None}
    if stats is not None:
        oldest = stats.oldest_received_at
        spool = {
            "depth": stats.depth,
            "bytes": stats.bytes,
            "max_bytes": stats.max_bytes or None,
            "oldest_received_at": None if oldest is None else datetime.fromtimestamp(oldest, UTC).isoformat(),
        }
    return {
        "directory": str(directory),
        "spool": spool,
        "state": last.get("state"),
        "updated_at": last.get("updated_at"),
        "error": last.get("error", ""),
    }


def cmd_status(args) -> int:
    local = [_local_status(d) for d in _spool_dirs(args)]
    remote, db_error = [], ""
    try:
        conn = psycopg2.connect(writer_dsn(args), connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT consumer, updated_at, host, pid, state, spool_depth, oldest_unsent_at, last_commit_at,"
                    " last_error FROM ingest_status ORDER BY consumer"
                )
                cols = [c.name for c in cur.description]
                remote = [
                    {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(cols, row, strict=True)}
                    for row in cur.fetchall()
                ]
        finally:
            conn.close()
    except psycopg2.Error as exc:
        db_error = str(exc).strip().splitlines()[0]
    if args.json:
        result = {"spools": local, "consumers": remote, "database_error": db_error}
        if len(local) == 1:
            result["spool"] = local[0]["spool"]
        print(json.dumps(result, indent=2))
        return 0
    print("local spools:" if local else "no local spool found")
    for item in local:
        s = item["spool"]
        print(
            f"  {item['directory']}: {s['depth']:,} messages waiting ({s['bytes'] / 2**20:.1f} MiB), oldest "
            f"{s['oldest_received_at'] or '-'}; state {item['state'] or '?'} at {item['updated_at'] or '?'}"
            + (f"; error: {item['error']}" if item["error"] else "")
        )
    if db_error:
        print(f"database unavailable: {db_error}")
    for row in remote:
        print(
            f"  consumer {row['consumer']} on {row['host']} (pid {row['pid']}): {row['state']}, spool "
            f"{row['spool_depth']:,}, oldest unsent {row['oldest_unsent_at'] or '-'}, last commit "
            f"{row['last_commit_at'] or '-'}, heartbeat {row['updated_at']}"
        )
    return 0


# -- reconcile ------------------------------------------------------------------------------------------------------
_RECONCILE = """
SELECT count(*), coalesce(sum(received), 0), coalesce(sum(stored), 0), coalesce(sum(duplicates), 0),
       coalesce(sum(quarantined), 0), coalesce(sum(quarantine_duplicates), 0)
  FROM ingest_ledger
 WHERE committed_at >= %(since)s AND (%(processor)s::text IS NULL OR processor = %(processor)s)
"""
_REASONS = """
SELECT r.key, sum(r.value::bigint)
  FROM ingest_ledger l, jsonb_each_text(l.by_reason) r
 WHERE l.committed_at >= %(since)s AND (%(processor)s::text IS NULL OR l.processor = %(processor)s)
 GROUP BY 1 ORDER BY 2 DESC, 1
"""


def parse_since(text: str) -> datetime:
    """An ISO-8601 instant (naive = UTC) or a duration back from now ('15m', '2h', '7d')."""
    try:
        return datetime.fromtimestamp(time.time() - parse_duration(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since takes an ISO-8601 instant or a duration such as 2h: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_reconcile(args) -> int:
    params = {"since": parse_since(args.since), "processor": args.processor}
    conn = psycopg2.connect(writer_dsn(args), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(_RECONCILE, params)
            batches, received, stored, duplicates, quarantined, q_dup = (int(v) for v in cur.fetchone())
            cur.execute(_REASONS, params)
            by_reason = {reason: int(n) for reason, n in cur.fetchall()}
    finally:
        conn.close()
    totals = {
        "since": params["since"].isoformat(),
        "batches": batches,
        "received": received,
        "stored": stored,
        "duplicates": duplicates,
        "quarantined": quarantined,
        "quarantine_duplicates": q_dup,
        "by_reason": by_reason,
    }
    if args.json:
        print(json.dumps(totals, indent=2))
        return 0
    print(f"ledger since {totals['since']} ({batches:,} committed batches)")
    print(f"  received     {received:>12,} messages (transport side; backfill counts readings)")
    print(f"  stored       {stored:>12,} readings")
    print(f"  duplicates   {duplicates:>12,} readings already stored")
    print(f"  quarantined  {quarantined:>12,} rejections (+{q_dup:,} already quarantined)")
    for reason, n in by_reason.items():
        print(f"    {reason:<24} {n:>10,}")
    return 0


# -- sensors --------------------------------------------------------------------------------------------------------
def cmd_sensors(args) -> int:
    from ingestion.registry import add_sensor, list_sensors, set_sensor_active

    conn = psycopg2.connect(writer_dsn(args), connect_timeout=5)
    try:
        if args.sensors_command == "list":
            for row in list_sensors(conn):
                sensor_id, name, kind, commune, _insee, lat, lon, interval, active = row
                flag = "" if active else "  (inactive)"
                print(f"{sensor_id:<22} {kind:<12} {commune:<22} {lat:9.5f} {lon:10.5f} {interval:>5}s  {name}{flag}")
            return 0
        if args.sensors_command == "add":
            added = add_sensor(
                conn,
                sensor_id=args.sensor_id,
                name=args.name or args.sensor_id,
                kind=args.kind,
                commune=args.commune,
                insee=args.insee,
                latitude=args.latitude,
                longitude=args.longitude,
                expected_interval_s=args.interval,
            )
            if not added:
                print(f"error: sensor {args.sensor_id!r} exists already", file=sys.stderr)
                return 1
            print(f"sensor {args.sensor_id} added; running consumers accept it at once")
            return 0
        active = args.sensors_command == "activate"
        if not set_sensor_active(conn, args.sensor_id, active):
            print(f"error: no sensor {args.sensor_id!r}", file=sys.stderr)
            return 1
        print(f"sensor {args.sensor_id} {'activated' if active else 'deactivated'}")
        return 0
    finally:
        conn.close()


def add_ops_parsers(sub) -> None:
    status = sub.add_parser("status", help="spool depth, oldest unsent reading and consumer heartbeats")
    status.add_argument("--spool-dir", help=f"one spool directory (default: every spool under {SPOOL_ROOT})")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    reconcile = sub.add_parser("reconcile", help="totals of the durable ledger (received, stored, quarantined...)")
    reconcile.add_argument("--since", default="24h", help="ISO-8601 instant or duration back from now (default 24h)")
    reconcile.add_argument("--processor", help="only this processor (lite, backfill, spark)")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(func=cmd_reconcile)

    sensors = sub.add_parser("sensors", help="the sensor catalogue in the database: list, add, deactivate, activate")
    ssub = sensors.add_subparsers(dest="sensors_command", required=True)
    ssub.add_parser("list", help="every sensor")
    add = ssub.add_parser("add", help="register a sensor (accepted by running consumers without a restart)")
    add.add_argument("sensor_id")
    add.add_argument("--name")
    add.add_argument("--kind", required=True)
    add.add_argument("--commune", required=True)
    add.add_argument("--insee", required=True)
    add.add_argument("--latitude", type=float, required=True)
    add.add_argument("--longitude", type=float, required=True)
    add.add_argument("--interval", type=int, default=60, help="expected seconds between messages (default 60)")
    for verb in ("deactivate", "activate"):
        ssub.add_parser(verb, help=f"{verb} a sensor").add_argument("sensor_id")
    sensors.set_defaults(func=cmd_sensors)
