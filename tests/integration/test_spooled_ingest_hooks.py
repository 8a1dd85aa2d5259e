"""The two hooks the Kafka path needs in the spooled core: the drain's on_commit callback (called after the
database commit, with exactly the entries committed) and the broker stamp in an entry's meta, which becomes the
broker stage of pipeline_kpi (source_to_broker, broker_to_processor) instead of the device's sent_at."""

import json
import threading
import time

from ingestion.processor import LiteProcessor
from ingestion.registry import CatalogueWatcher
from ingestion.service import SpooledIngest
from ingestion.simulator import Simulator
from ingestion.spool import Spool
from ingestion.validation import Validator
from ingestion.writer import Writer


def test_on_commit_sees_each_committed_entry_once_after_the_commit(db_url, conn, tmp_path):
    stop = threading.Event()
    seen: list = []

    def on_commit(entries):
        with conn.cursor() as cur:  # called after the commit: the rows are visible from another connection
            cur.execute("SELECT coalesce(max(last_seq), 0) FROM ingest_ledger")
            assert cur.fetchone()[0] == entries[-1].seq
        seen.extend(entries)

    processor = LiteProcessor(Writer(db_url, retries=None, stop=stop), Validator(source="kafka"), max_batch=50)
    ingest = SpooledIngest(Spool(tmp_path), processor, name="t", catalogue=CatalogueWatcher(db_url), stop=stop,
                           on_commit=on_commit)  # fmt: skip
    sim = Simulator(seed=1, fmt="multi")
    sent = [m for k in range(3) for m in sim.tick(time.time() - 600 + k)]
    rows = [(m, time.time(), "kafka", json.dumps({"offset": i})) for i, m in enumerate(sent)]
    assert ingest.offer(rows) == len(rows)
    stop.set()  # drain_once does not wait for a batch to form once stopping
    while ingest.drain_once():
        pass
    assert [json.loads(e.meta)["offset"] for e in seen] == list(range(len(sent)))
    assert [e.payload for e in seen] == sent


def test_a_broker_stamp_in_meta_is_the_broker_stage(db_url, conn, tmp_path):
    stop = threading.Event()
    processor = LiteProcessor(Writer(db_url, retries=None, stop=stop), Validator(source="kafka"))
    ingest = SpooledIngest(Spool(tmp_path), processor, name="t", catalogue=CatalogueWatcher(db_url), stop=stop)
    event = time.time() - 30
    sim = Simulator(seed=2, fmt="multi")
    sent = sim.tick(event)  # sent_at = event time: without the stamp, source_to_broker would be 0
    broker_at, received_at = event + 4.0, event + 10.0
    meta = json.dumps({"broker_at": broker_at})
    assert ingest.offer([(m, received_at, "kafka", meta) for m in sent]) == len(sent)
    stop.set()
    assert ingest.drain_once()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT stage, latency_ms FROM pipeline_kpi WHERE stage IN ('source_to_broker', 'broker_to_processor')"
        )
        stages = dict(cur.fetchall())
    assert abs(stages["source_to_broker"] - 4000) < 1  # broker_at - event time
    assert abs(stages["broker_to_processor"] - 6000) < 1  # received_at - broker_at
