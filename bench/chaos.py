"""The chaos suite's long variants (issue 8): the same scenarios and harness as tests/integration/test_chaos.py
(tests/support/chaos_scenarios.py), with the issue's full durations under --long: PostgreSQL SIGKILLed for 60 s,
stopped for 5 minutes, the consumer down 60 s, the broker down 30 s, a full tiny spool for 2 minutes, an
unwritable spool for 60 s. Prints one table row per scenario (the table of docs/reliability.md) and exits 1 if a
scenario lost or duplicated anything, or if the ledger disagrees with the sender's count.

Runs on a throw-away PostgreSQL cluster and brokers of its own (test-output/bench-chaos/), never the embedded
default. Needs Mosquitto and the PostgreSQL binaries (scripts/setup.sh dev).

Usage: .venv/bin/python -m bench.chaos [--scenario 1 --scenario 2 ...] [--long]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import chaos_scenarios as cs  # noqa: E402
from tests.support.chaos import ChaosPostgres  # noqa: E402
from tests.support.chaos_traffic import Row  # noqa: E402
from tests.support.services import free_port  # noqa: E402

LABELS = {
    1: "1 PostgreSQL SIGKILL, {d.outage_kill:.0f} s down",
    2: "2 PostgreSQL stopped, {d.outage_stop:.0f} s, single + faults",
    3: "3 consumer SIGKILL mid-batch, restart after {d.consumer_down:.0f} s",
    4: "4 broker restart (graceful, persistence), {d.broker_down:.0f} s down",
    5: "5 burst 10k malformed + 10k valid in {burst:.2f} s",
    6: "6 poison corpus ({corpus} messages) in valid traffic",
    7: "7 spool of 200 kB full during a {d.outage_tiny_spool:.0f} s outage",
    8: "8 spool unwritable (RLIMIT_FSIZE) for {d.unwritable:.0f} s",
}


def run_one(cluster: ChaosPostgres, workdir: Path, n: int, d: cs.Durations) -> Row:
    run = cs.Run(cluster, workdir / f"s{n}", f"s{n}", d, **cs.options(n))
    extra = {"burst": 0.0, "corpus": 0}
    try:
        if n == 5:
            extra["burst"], _ = cs.s5_burst(run)
        elif n == 6:
            poison = cs.poison_messages()
            extra["corpus"] = len(poison)
            cs.s6_poison_corpus(run, poison)
        else:
            cs.SCENARIOS[n][1](run)
        row = run.finish()
        if n == 6:
            row.details["ledger_checks"] += [
                f"poison {k}: {v}" for k, v in cs.poison_mismatches(run.url, poison).items()
            ]
    finally:
        run.close()
        if not cluster.server.is_running():
            cluster.restart()
    row.scenario = LABELS[n].format(d=d, **extra)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=int, action="append", choices=sorted(cs.SCENARIOS), help="default: all")
    parser.add_argument("--long", action="store_true", help="the issue's full durations (default: the CI ones)")
    args = parser.parse_args(argv)
    durations = cs.BENCH if args.long else cs.CI
    workdir = ROOT / "test-output" / "bench-chaos"
    cluster = ChaosPostgres(workdir / "pg", free_port())
    cluster.start()
    rows, failed = [], False
    try:
        for n in args.scenario or sorted(cs.SCENARIOS):
            began = time.monotonic()
            try:
                row = run_one(cluster, workdir, n, durations)
            except Exception as exc:  # a scenario that cannot even run is a failure, and the others still run
                print(f"scenario {n} failed to run: {exc!r}", flush=True)
                failed = True
                continue
            problems = row.details["ledger_checks"]
            ok = row.passed and not problems and row.recovery_s is not None
            failed |= not ok
            rows.append(row)
            print(f"{Row.HEADER}\n{row.markdown()}  ({'pass' if ok else 'FAIL'}, {time.monotonic() - began:.0f} s)")
            print(f"  notes: {row.notes or '-'}; ledger {json.dumps(row.details['ledger'])}; {problems or ''}")
    finally:
        cluster.stop()
    print(f"\n{'long' if args.long else 'CI'} variants:\n{Row.HEADER}\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
