"""`python -m ingestion archive influx|delta`, and the periodic archiver that `ingestion run --archive ...` starts.

One run copies what was committed since the watermark and exits; `--every 5m` repeats until Ctrl-C / SIGTERM. A
target or database that is away is one clear log line, the watermark stays, and the next attempt comes after a
backoff (doubling up to the period) — every attempt resumes from the watermark, so nothing is skipped or doubled.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from db.embedded import PROJECT_ROOT
from ingestion.cli_common import parse_duration

log = logging.getLogger("ingestion.archive")

DEFAULT_LAKE = Path(os.environ.get("MADININA_LAKE_DIR", PROJECT_ROOT / ".data" / "lake"))
DEFAULT_EVERY = "5m"  # seed 002: "archivage périodique toutes les 5 minutes"


def _common(parser) -> None:
    parser.add_argument("--every", metavar="DURATION", help="repeat every DURATION (e.g. 5m) until stopped")
    parser.add_argument(
        "--lag", type=float, default=60.0, help="leave rows committed in the last LAG seconds for the next run (60)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _influx_args(parser) -> None:
    parser.add_argument(
        "--url", default=os.environ.get("INFLUX_URL", "http://127.0.0.1:8086"), help="InfluxDB URL (INFLUX_URL)"
    )
    parser.add_argument("--org", default=os.environ.get("INFLUX_ORG", "madinina"), help="organisation (INFLUX_ORG)")
    parser.add_argument(
        "--bucket", default=os.environ.get("INFLUX_BUCKET", "sensors_archive"), help="bucket (INFLUX_BUCKET)"
    )
    parser.add_argument("--batch-size", type=int, default=5_000, help="points per write request (5000)")
    parser.add_argument("--streams", default="raw,windows", help="what to archive: raw, windows or both (raw,windows)")


def _delta_args(parser) -> None:
    parser.add_argument("--root", default=str(DEFAULT_LAKE), help=f"directory of the Delta tables ({DEFAULT_LAKE})")
    parser.add_argument("--retain-days", type=int, default=None, help="delete days older than this (default: keep)")
    parser.add_argument("--compact-files", type=int, default=8, help="compact a partition with more files (8)")
    parser.add_argument("--vacuum-hours", type=int, default=168, help="remove unreferenced files after (168 h)")


def add_archive_parsers(sub) -> None:
    archive = sub.add_parser("archive", help="copy the database to InfluxDB or a Delta Lake medallion (incremental)")
    targets = archive.add_subparsers(dest="target", required=True)
    influx = targets.add_parser(
        "influx", help="raw readings and windows to an InfluxDB 2.x bucket (token: INFLUX_TOKEN)"
    )
    _influx_args(influx)
    _common(influx)
    influx.set_defaults(func=cmd_archive)
    delta = targets.add_parser("delta", help="bronze/silver/gold Delta tables, partitioned by day")
    _delta_args(delta)
    _common(delta)
    delta.set_defaults(func=cmd_archive)


def add_run_archive_args(parser) -> None:
    """`ingestion run --archive delta|influx [--archive-every 5m]`: the periodic archiver inside the live process
    (InfluxDB settings from INFLUX_URL/INFLUX_TOKEN/INFLUX_ORG/INFLUX_BUCKET, the lake in MADININA_LAKE_DIR or
    .data/lake)."""
    parser.add_argument("--archive", choices=["influx", "delta"], action="append", help="also archive periodically")
    parser.add_argument("--archive-every", default=DEFAULT_EVERY, help=f"period of --archive ({DEFAULT_EVERY})")
    parser.add_argument("--archive-lag", type=float, default=60.0, help="--lag of the periodic archiver (60 s)")


def make_archiver(args, dsn: str, progress):
    from ingestion.archive.source import RAW, WINDOWS, Source

    source = Source(dsn, lag_s=getattr(args, "lag", 60.0))
    if args.target == "influx":
        from ingestion.archive.influx import InfluxArchiver, InfluxConfig

        config = InfluxConfig(
            url=args.url,
            token=os.environ.get("INFLUX_TOKEN", ""),
            org=args.org,
            bucket=args.bucket,
            batch_size=args.batch_size,
        )
        streams = tuple(s for s in (RAW, WINDOWS) if s.name in args.streams.split(","))
        archiver = InfluxArchiver(source, config, progress=progress)
        return source, lambda: archiver.run(streams)
    from ingestion.archive.lake import LakeArchiver, LakeConfig

    config = LakeConfig(
        root=Path(args.root),
        compact_files=args.compact_files,
        retain_days=args.retain_days,
        vacuum_hours=args.vacuum_hours,
    )
    return source, LakeArchiver(source, config, progress=progress).run


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def periodic(run, *, every_s: float, stop: threading.Event, name: str) -> None:
    """Call run() every every_s until stop; a failure is logged once per outage and retried with backoff."""
    failing, backoff = False, 1.0
    while not stop.is_set():
        started = time.monotonic()
        try:
            done = run()
            if failing:
                log.warning("archive %s: back, archived %s", name, done)
            failing, backoff = False, 1.0
            wait = every_s - (time.monotonic() - started)
        except Exception as exc:  # the target or the database is away (or refused): the watermark stays
            if not failing:
                log.error("archive %s failed (%s); watermark kept, retrying with backoff", name, _failure(exc))
            failing = True
            wait, backoff = backoff, min(backoff * 2, every_s)
        stop.wait(max(0.0, wait))


def cmd_archive(args) -> int:
    from ingestion.ops import writer_dsn

    progress = (lambda _line: None) if args.quiet else (lambda line: print(line, flush=True))
    source, run = make_archiver(args, writer_dsn(args), progress)
    try:
        if args.every is None:
            try:
                done = run()
            except Exception as exc:
                print(f"error: archive {args.target}: {_failure(exc)}", flush=True)
                return 1
            print(f"archive {args.target} done: {done}", flush=True)
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(f"archive {args.target}: every {args.every} (Ctrl-C to stop)", flush=True)
        periodic(run, every_s=parse_duration(args.every), stop=stop, name=args.target)
        return 0
    finally:
        source.close()


def start_run_archivers(args, dsn: str, stop: threading.Event) -> list[threading.Thread]:
    """The periodic archivers of `ingestion run --archive ...`, as daemon threads with default settings."""
    import argparse

    threads = []
    for target in args.archive or []:
        parser = argparse.ArgumentParser()
        (_influx_args if target == "influx" else _delta_args)(parser)
        _common(parser)
        sub_args = parser.parse_args(["--lag", str(args.archive_lag)])
        sub_args.target = target
        _source, run = make_archiver(sub_args, dsn, lambda line: log.info("%s", line))
        thread = threading.Thread(
            target=periodic,
            args=(run,),
            kwargs={"every_s": parse_duration(args.archive_every), "stop": stop, "name": target},
            name=f"archive-{target}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    return threads
