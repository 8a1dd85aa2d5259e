"""The chaos suite, CI variants (issue 8): real PostgreSQL (a cluster of its own, killed and stopped), real
Mosquitto with the shipped configuration, the real consumer process with its spool; the simulator streams at
its default rate while each fault is injected. Pass = 0 lost, 0 duplicated, ledger equal to the sender's count.

The long variants (PostgreSQL stopped 5 minutes, ...) are `python -m bench.chaos --long`. Each row is appended
to test-output/chaos-ci.md (the table of docs/reliability.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.support import chaos_scenarios as cs
from tests.support.chaos import ROOT, ChaosPostgres
from tests.support.chaos_traffic import Row, stored_quarantine
from tests.support.mosquitto import mosquitto_path
from tests.support.postgres import binaries_available
from tests.support.services import free_port, require

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]


def _consumer_has_spool() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "ingestion", "consume", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return "--spool-dir" in help_text


@pytest.fixture(scope="module")
def chaos_cluster(output_dir):
    require(binaries_available(), "PostgreSQL server binaries")
    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    require(_consumer_has_spool(), "the spooling consumer (python -m ingestion consume --spool-dir)")
    cluster = ChaosPostgres(output_dir / "chaos" / "pg", free_port())
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def run_scenario(chaos_cluster, output_dir):
    """A scenario's services (logs in test-output/chaos/s<N>/); always torn down, the cluster restarted."""
    runs = []

    def make(n: int) -> cs.Run:
        run = cs.Run(chaos_cluster, output_dir / "chaos" / f"s{n}", f"s{n}", cs.CI, **cs.options(n))
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()
    if not chaos_cluster.server.is_running():
        chaos_cluster.restart()


def check(row: Row, output_dir, label: str) -> None:
    row.scenario = label
    print(f"\n{Row.HEADER}\n{row.markdown()}\nnotes: {row.notes}\n{json.dumps(row.details, default=str)[:3000]}")
    with open(output_dir / "chaos-ci.md", "a") as table:
        table.write(row.markdown() + f" <!-- {row.notes} -->\n")
    assert row.readings > 0 and row.messages > 0, "nothing was sent: the scenario proves nothing"
    assert row.lost == 0, f"{row.lost} lost: {row.details}"
    assert row.extra == 0, f"{row.extra} stored twice or never sent: {row.details}"
    assert row.details["ledger_checks"] == [], row.details["ledger_checks"]
    assert row.recovery_s is not None, row.notes


def test_1_postgres_sigkill_mid_stream(run_scenario, output_dir):
    run = run_scenario(1)
    cs.s1_postgres_sigkill(run)
    check(run.finish(), output_dir, f"1 PostgreSQL SIGKILL, {cs.CI.outage_kill:.0f} s down")
    assert run.consumer.starts == 1  # retried, never exited


def test_2_postgres_stopped(run_scenario, output_dir):
    run = run_scenario(2)
    cs.s2_postgres_stopped(run)
    row = run.finish()
    check(row, output_dir, f"2 PostgreSQL stopped, {cs.CI.outage_stop:.0f} s (CI; bench 5 min), single + faults")
    assert run.consumer.starts == 1
    # The simulator's faults were really there: repeats absorbed, malformed ones quarantined.
    assert row.duplicates > 0 and row.quarantined > 0, row.details["ledger"]


def test_3_consumer_sigkill_mid_batch(run_scenario, output_dir):
    run = run_scenario(3)
    cs.s3_consumer_sigkill(run)
    row = run.finish()
    check(row, output_dir, f"3 consumer SIGKILL mid-batch, restart after {cs.CI.consumer_down:.0f} s")
    assert row.details["ledger"]["received"] >= row.messages, row.details["ledger"]


def test_4_broker_restart_mid_stream(run_scenario, output_dir):
    run = run_scenario(4)
    cs.s4_broker_restart(run)
    row = run.finish()
    check(row, output_dir, f"4 broker restart (graceful, persistence), {cs.CI.broker_down:.0f} s down")
    assert run.broker.starts == 2 and run.consumer.starts == 1


def test_5_burst_of_malformed_and_valid(run_scenario, output_dir):
    run = run_scenario(5)
    seconds, reasons = cs.s5_burst(run)
    print(f"burst: 20,000 messages acknowledged by the broker in {seconds:.3f} s")
    row = run.finish()
    check(row, output_dir, f"5 burst 10k malformed + 10k valid in {seconds:.2f} s")
    assert seconds < 1.0, f"the burst took {seconds:.2f} s"
    # The paced stream is clean: the quarantine is the burst's malformed half, each with its built-in reason.
    assert Counter(reason for _, reason in stored_quarantine(run.url)) == reasons
    assert row.details["ledger"]["by_reason"] == dict(reasons)


def test_6_poison_corpus_in_valid_traffic(run_scenario, output_dir):
    try:
        poison = cs.poison_messages()
    except ImportError:
        require(False, "tests/data/poison_corpus.py (the validator's corpus)")
    run = run_scenario(6)
    cs.s6_poison_corpus(run, poison)
    row = run.finish()
    check(row, output_dir, f"6 poison corpus ({len(poison)} messages) in valid traffic")
    assert cs.poison_mismatches(run.url, poison) == {}


def test_7_tiny_spool_during_an_outage(run_scenario, output_dir):
    run = run_scenario(7)
    cs.s7_tiny_spool(run)
    check(run.finish(), output_dir, f"7 spool of 200 kB full during a {cs.CI.outage_tiny_spool:.0f} s outage")
    assert run.consumer.starts == 1


def test_8_spool_unwritable(run_scenario, output_dir):
    run = run_scenario(8)
    cs.s8_spool_unwritable(run)
    row = run.finish()
    check(row, output_dir, f"8 spool unwritable (RLIMIT_FSIZE) for {cs.CI.unwritable:.0f} s")
    assert run.consumer.starts == 1
    # A batch committed while its spool delete was refused is forgotten later, never committed or counted again.
    assert row.details["ledger"]["received"] == row.messages, row.details["ledger"]
