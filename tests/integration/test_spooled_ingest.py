"""The spooled consumer core (ingestion/service.py) on a real PostgreSQL that the tests stop and start: an outage
is spooled and drained in order, a batch committed before a crash is not applied twice, a message the database
refuses is isolated, an operator's new sensor is accepted without a restart. Every check compares with what the
test sent."""

import json
import logging
import os
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from ingestion.catalogue import SENSORS
from ingestion.processor import LiteProcessor
from ingestion.registry import CatalogueWatcher
from ingestion.service import SpooledIngest
from ingestion.simulator import Simulator
from ingestion.spool import Spool, SpoolUnwritable
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support import postgres as pg
from tests.support.app import ROOT
from tests.support.services import free_port, require, wait_for

START = time.time() - 1800


@pytest.fixture(scope="module")
def own_cluster(output_dir):
    """A cluster of this module's own: these tests stop it."""
    require(pg.binaries_available(), "PostgreSQL server binaries")
    cluster = pg.TestCluster(output_dir / f"pg-outage-{os.getpid()}", free_port())
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def url(own_cluster):
    own_cluster.server.start()  # a previous test may have left it stopped
    return own_cluster.url(own_cluster.fresh_database())


def make_ingest(url, spool_dir, stop=None, **spool_kw) -> SpooledIngest:
    stop = stop or threading.Event()
    writer = Writer(url, retries=None, stop=stop, max_backoff_s=1.0)
    processor = LiteProcessor(writer, Validator(source="test"), max_delay_s=0.05)
    return SpooledIngest(
        Spool(spool_dir, **spool_kw), processor, name="test", catalogue=CatalogueWatcher(url), stop=stop
    )


def messages(ticks: int, start: float = START, seed: int = 7) -> list[bytes]:
    sim = Simulator(seed=seed, fmt="multi")
    return [m for k in range(ticks) for m in sim.tick(start + k)]


def offer(ingest, batch: list[bytes]) -> None:
    assert ingest.offer([(m, time.time(), "test") for m in batch]) == len(batch)


def sent_readings(batch: list[bytes]) -> set[tuple]:
    return {(r.sensor_id, r.metric, round(r.time, 6)) for m in batch for r in Validator(source="x").parse(m).readings}


def stored(url) -> set[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT sensor_id, metric, extract(epoch FROM time)::float8 FROM sensor_data")
        return {(s, m, round(t, 6)) for s, m, t in cur.fetchall()}


def ledger(url) -> tuple[int, int, int, int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(received), 0), coalesce(sum(stored), 0),"
                    " coalesce(sum(quarantined), 0) FROM ingest_ledger")  # fmt: skip
        return tuple(int(v) for v in cur.fetchone())


def test_an_outage_is_spooled_then_drained_in_order(own_cluster, url, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    ingest = make_ingest(url, tmp_path)
    ingest.start()
    before, during = messages(5), messages(20, start=START + 5)
    try:
        offer(ingest, before)
        wait_for(lambda: ingest.spool.depth == 0, 30, "first messages committed")
        own_cluster.server.stop()
        offer(ingest, during)  # accepted while the database is down: durable in the spool, acknowledged
        wait_for(lambda: ingest.state() == "database_down", 30, "the outage noticed")
        assert ingest.spool.depth == len(during)
        own_cluster.server.start()
        wait_for(lambda: ingest.spool.depth == 0, 60, "the spool drained")
    finally:
        ingest.stop.set()
        ingest.join(30)
    assert stored(url) == sent_readings(before + during)
    batches, received, n_stored, _ = ledger(url)
    assert received == len(before) + len(during) and n_stored == len(sent_readings(before + during))
    text = caplog.text
    assert text.count("database unavailable") == 1 and text.count("database back") == 1  # once per state change


def test_a_batch_committed_before_a_crash_is_not_applied_twice(url, tmp_path):
    batch = messages(3)
    ingest = make_ingest(url, tmp_path)
    offer(ingest, batch)
    entries = ingest.spool.peek(1000)
    ingest._refresh_catalogue()
    ingest.processor.commit_entries(entries, spool_id=ingest.spool.spool_id)  # committed...
    ingest.spool.close()  # ...and the process dies before deleting them from the spool
    first = ledger(url)
    again = make_ingest(url, tmp_path)  # restart: the same spool, the same entries
    assert again.spool.depth == len(batch)
    assert again.drain_once()
    assert again.spool.depth == 0
    assert ledger(url) == first == (1, len(batch), len(sent_readings(batch)), 0)
    assert stored(url) == sent_readings(batch)


def test_a_message_the_database_refuses_is_isolated_and_quarantined(url, tmp_path):
    # An operator widened a valid range (the validator follows the database) so far that a value gets through
    # which overflows the windows' sum of squares: PostgreSQL refuses the whole batch.
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE metrics SET valid_max = 1e308 WHERE metric = 'pm10'")
    good = messages(2)
    sensor = next(s.sensor_id for s in SENSORS if "pm10" in s.metrics)
    bad = json.dumps({"timestamp": START + 1, "sensor_id": sensor, "metric": "pm10", "value": 1e200})
    ingest = make_ingest(url, tmp_path)
    offer(ingest, good[:30] + [bad.encode()] + good[30:])
    assert ingest.drain_once()
    assert stored(url) == sent_readings(good)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT reason, payload, detail FROM quarantine")
        [(reason, payload, detail)] = cur.fetchall()
    assert reason == "write_failed" and payload == bad and "out of range" in detail
    assert ledger(url)[1] == len(good) + 1  # every message sent is counted once


def cli(url, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", "--database-url", url, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_sensor_added_by_an_operator_is_accepted_without_a_restart(url, tmp_path):
    ingest = make_ingest(url, tmp_path)
    ingest.start()

    def reading(k: int) -> bytes:
        return json.dumps(
            {"timestamp": START + k, "sensor_id": "op-lamentin-wx-99", "temperature": 27.5, "humidity": 80}
        ).encode()

    try:
        offer(ingest, [reading(0)])
        wait_for(lambda: ingest.spool.depth == 0, 30, "first message committed")
        out = cli(url, "sensors", "add", "op-lamentin-wx-99", "--kind", "weather", "--commune", "Le Lamentin",
                  "--insee", "97213", "--latitude", "14.61", "--longitude", "-61.0", "--interval", "60")  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "op-lamentin-wx-99" in cli(url, "sensors", "list").stdout
        # The NOTIFY of the sensors table reaches the consumer; its next batch validates with the new catalogue.
        wait_for(lambda: "op-lamentin-wx-99" in ingest.catalogue.current().sensor_ids, 10, "catalogue refreshed")
        offer(ingest, [reading(1)])
        wait_for(lambda: ingest.spool.depth == 0, 30, "second message committed")
        assert cli(url, "sensors", "deactivate", "op-lamentin-wx-99").returncode == 0
        wait_for(lambda: "op-lamentin-wx-99" not in ingest.catalogue.current().sensor_ids, 10, "deactivation seen")
        offer(ingest, [reading(2)])
        wait_for(lambda: ingest.spool.depth == 0, 30, "third message committed")
    finally:
        ingest.stop.set()
        ingest.join(30)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data WHERE sensor_id = 'op-lamentin-wx-99'")
        assert cur.fetchone()[0] == 2  # the message sent while registered: its two readings
        cur.execute("SELECT reason, detail FROM quarantine ORDER BY received_at")
        (r1, d1), (r2, d2) = cur.fetchall()  # before registration, after deactivation
    assert r1 == r2 == "unknown_sensor" and "not in the catalogue" in d1 and "deactivated" in d2
    totals = json.loads(cli(url, "reconcile", "--since", "1h", "--json").stdout)
    assert (totals["received"], totals["stored"], totals["quarantined"]) == (3, 2, 2)
    assert cli(url, "sensors", "add", "op-lamentin-wx-99", "--kind", "weather", "--commune", "X", "--insee", "1",
               "--latitude", "14", "--longitude", "-61").returncode == 1  # fmt: skip
    assert cli(url, "sensors", "add", "x", "--kind", "volcano", "--commune", "X", "--insee", "1",
               "--latitude", "14", "--longitude", "-61").stderr.startswith("error:")  # fmt: skip


def test_a_committed_batch_whose_delete_failed_is_forgotten_not_recounted(url, tmp_path):
    # The spool refuses the delete after the commit (disk full): the next drain must not commit those entries
    # again, even when it peeks a longer run of entries than the batch that was committed (other last_seq).
    first, more = messages(2), messages(2, start=START + 2)
    ingest = make_ingest(url, tmp_path)
    offer(ingest, first)
    real_delete = ingest.spool.delete_through
    ingest.spool.delete_through = lambda seq: (_ for _ in ()).throw(SpoolUnwritable("refused (test)"))
    assert ingest.drain_once()
    assert ingest.spool.depth == len(first)  # committed, not forgotten
    ingest.spool.delete_through = real_delete
    offer(ingest, more)
    assert ingest.drain_once()
    assert ingest.spool.depth == 0
    assert ledger(url) == (2, len(first) + len(more), len(sent_readings(first + more)), 0)
    with Writer(url) as writer:  # a restarted process learns the same from the ledger
        assert writer.committed_through(ingest.spool.spool_id) > 0
