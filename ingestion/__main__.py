"""python -m ingestion — the companion ingestion service.

run        simulator -> lite processor -> database, in one process (the embedded default)
backfill   write N days of simulated history quickly (no JSON, straight to the writer)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

import psycopg2

from db import settings
from ingestion.cli_common import parse_duration


def _writer_dsn(args) -> str:
    return args.database_url or settings.database_url("writer")


def _sync(args) -> None:
    from ingestion.registry import sync_catalogue

    conn = psycopg2.connect(args.database_url or settings.database_url("writer"))
    try:
        metrics, sensors = sync_catalogue(conn)
    finally:
        conn.close()
    print(f"catalogue: {sensors} sensors, {metrics} metrics", flush=True)


def cmd_backfill(args) -> int:
    from ingestion.simulator import Simulator
    from ingestion.writer import Writer

    _sync(args)
    span = parse_duration(args.span)
    end = time.time() if args.end is None else args.end
    start = end - span
    total_steps = span / args.step
    sim = Simulator(seed=args.seed)
    started = time.monotonic()
    stored = dup = 0
    with Writer(_writer_dsn(args), processor="backfill") as writer:
        for chunk in sim.history(start, end, step_s=args.step):
            result = writer.write(chunk)
            stored += result.stored
            dup += result.duplicates
            done = (chunk["time"].max().timestamp() - start) / args.step
            rate = (stored + dup) / max(time.monotonic() - started, 1e-9)
            print(
                f"backfill {min(100.0, 100 * done / total_steps):5.1f}%  {stored:,} stored, {dup:,} already "
                f"there, {rate:,.0f} readings/s",
                flush=True,
            )
    print(
        f"backfill done: {stored:,} readings stored, {dup:,} already present, {time.monotonic() - started:.1f}s",
        flush=True,
    )
    return 0


def cmd_run(args) -> int:
    from ingestion.processor import LiteProcessor
    from ingestion.simulator import FaultConfig, Simulator
    from ingestion.validation import Validator
    from ingestion.writer import Writer

    if args.backfill:
        backfill_args = argparse.Namespace(**vars(args))
        backfill_args.span, backfill_args.end, backfill_args.step = args.backfill, None, args.backfill_step
        cmd_backfill(backfill_args)
    else:
        _sync(args)
    faults = FaultConfig(malformed_rate=args.malformed_rate, duplicate_rate=args.duplicate_rate)
    sim = Simulator(seed=args.seed, faults=faults, fmt=args.format)
    stop = {"now": False}

    def request_stop(signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with Writer(_writer_dsn(args), processor="lite") as writer:
        processor = LiteProcessor(writer, Validator(source="direct"))
        period = 1.0 / args.rate
        next_tick = time.time()
        last_report = time.monotonic()
        print(f"live: simulator -> lite processor -> database every {period:g}s (Ctrl-C to stop)", flush=True)
        while not stop["now"]:
            now = time.time()
            if now < next_tick:
                time.sleep(min(next_tick - now, 0.2))
                continue
            for message in sim.tick(next_tick):
                processor.submit(message)
            processor.flush()
            next_tick += period
            if next_tick < time.time() - 5 * period:  # fell behind (machine busy): skip ahead, do not spiral
                next_tick = time.time()
            if time.monotonic() - last_report >= args.report_every:
                c = processor.counters
                print(
                    f"live: received {c.received:,}  stored {c.stored:,}  duplicates {c.duplicates:,}  "
                    f"quarantined {c.quarantined:,}",
                    flush=True,
                )
                last_report = time.monotonic()
        processor.flush()
        c = processor.counters
        print(
            f"stopped cleanly: received {c.received:,} = stored {c.stored:,} + duplicates {c.duplicates:,} + "
            f"quarantined {c.quarantined:,}",
            flush=True,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="writer connection (default: WRITER_DATABASE_URL, "
        "DATABASE_URL with the writer role, or the embedded default)",
    )
    parser.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate + process + write, live")
    run.add_argument("--rate", type=float, default=1.0, help="ticks per second; each tick = 1 message per sensor")
    run.add_argument("--format", choices=["multi", "single", "ngsi"], default="multi")
    run.add_argument("--backfill", metavar="SPAN", help="first write this much history, e.g. 2h or 7d")
    run.add_argument("--backfill-step", type=float, default=60.0, help="seconds between backfilled readings")
    run.add_argument("--malformed-rate", type=float, default=0.0, help="share of malformed messages (0-1)")
    run.add_argument("--duplicate-rate", type=float, default=0.0, help="share of duplicated messages (0-1)")
    run.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser("backfill", help="write simulated history quickly")
    backfill.add_argument("span", help="how much history, e.g. 7d, 12h")
    backfill.add_argument("--step", type=float, default=60.0, help="seconds between readings (default 60)")
    backfill.add_argument("--end", type=float, default=None, help="end instant, epoch seconds (default now)")
    backfill.set_defaults(func=cmd_backfill)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except (psycopg2.Error, ValueError) as exc:
        print(f"error: {exc}".strip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
