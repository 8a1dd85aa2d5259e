"""The fuzz acceptance of issue 8: fuzzed messages through the real MQTT path (publisher -> Mosquitto with the
shipped config -> `python -m ingestion consume`): the consumer never crashes (alive, started once), every
message is stored or quarantined with its TRUE reason, and the ledger totals equal the count sent.

The true reason is known by construction, never by asking the validator: a valid single reading with exactly
one injected defect (tests/support/hostile.py), or a poison corpus message (tests/data/poison_corpus.py)
mutated by a unique `fuzz_id` field in front, which changes nothing else. Each message carries its fuzz id
first, so each quarantine row points back at the message that caused it.

CI runs MADININA_FUZZ_N messages (default 100,000); `python -m bench.chaos --fuzz N` runs the same.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import psycopg2
import pytest

from tests.support import chaos, chaos_traffic
from tests.support.chaos import Broker, Consumer
from tests.support.hostile import FUZZ_ID_PATTERN, Hostile, HostileStream
from tests.support.mosquitto import mosquitto_path
from tests.support.services import require, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

N = int(os.environ.get("MADININA_FUZZ_N", "100000"))
CHUNK = 10_000  # published at wire speed, then the next once the consumer caught up (bounded broker queue)


def corpus_variants(rng: random.Random, stream: HostileStream, n: int) -> list[Hostile]:
    """Poison corpus messages made unique: `"fuzz_id":"F…",` inserted right after the opening brace of an
    object. Only entries that are JSON-object-like text, reject every reading (KEPT 0, so no two variants store
    the same reading) and stay on the same side of the 64 KiB limit with the 22 more bytes."""
    from tests.data import poison_corpus as pc

    eligible = [
        (name, payload, reason)
        for name, payload, reason in pc.CORPUS
        if payload[:1] == b"{" and payload[1:].lstrip()[:1] != b"}" and pc.KEPT.get(name, 0) == 0
        and not 65_536 - 64 <= len(payload) <= 65_536
    ]  # fmt: skip
    out = []
    for _ in range(n):
        name, payload, reason = rng.choice(eligible)
        stream.n += 1
        fuzz_id = f"F{stream.n:08d}"
        mutated = b'{"fuzz_id":"' + fuzz_id.encode() + b'",' + payload[1:]
        out.append(Hostile(fuzz_id, mutated, reason, f"corpus:{name}"))
    return out


def fuzz_messages(n: int, seed: int = 100) -> list[Hostile]:
    rng = random.Random(seed)
    stream = HostileStream(seed, int(time.time()) - 5 * 86400)
    messages = stream.mixed(n - n // 50, hostile_share=0.5)
    messages += corpus_variants(rng, stream, n // 50)  # 2 % poison corpus mutations
    rng.shuffle(messages)
    return messages


def rejections(pc, m: Hostile) -> int:
    """Rows a hostile message gives: one, or what the corpus says for a multi-metric one."""
    return pc.REJECTIONS.get(m.defect.removeprefix("corpus:"), 1)


def quarantine_by_fuzz_id(url: str) -> dict[str, list[str]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT substring(payload FROM %s), reason FROM quarantine", (FUZZ_ID_PATTERN,))
        out = defaultdict(list)
        for fuzz_id, reason in cur.fetchall():
            out[fuzz_id].append(reason)
        return out


def test_fuzzed_messages_through_mqtt_are_each_stored_or_quarantined_with_their_reason(pg_cluster, output_dir):
    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    try:
        from tests.data import poison_corpus as pc
    except ImportError:
        require(False, "tests/data/poison_corpus.py (the validator's corpus)")
    messages = fuzz_messages(N)
    valid = {m.fuzz_id: m for m in messages if m.reason is None}
    hostile = {m.fuzz_id: m for m in messages if m.reason is not None}
    assert len(valid) + len(hostile) == N and len(valid) > N // 3 and len(hostile) > N // 3
    want_rejections = sum(rejections(pc, m) for m in hostile.values())

    workdir = output_dir / "chaos" / "fuzz"
    url = pg_cluster.url(pg_cluster.fresh_database())
    since = datetime.now(UTC)
    broker = Broker(workdir)
    broker.start()
    broker.provision_session("chaos-fuzz")
    consumer = Consumer(url, broker, workdir, client_id="chaos-fuzz", spool_max_bytes=1 << 30)
    consumer.start()
    began = time.monotonic()
    try:

        def caught_up(target: int):
            assert consumer.exited() is None, f"consumer crashed: {consumer.log()[-3000:]}"
            return chaos.count_rows(url, "sensor_data") + chaos.count_rows(url, "quarantine") >= target

        published = 0
        for start in range(0, N, CHUNK):
            chunk = messages[start : start + CHUNK]
            chaos_traffic.publish_burst(broker.port, [m.payload for m in chunk])
            published += len(chunk)
            # Keep at most ~2 chunks queued in the broker (the 70 KiB ones add up).
            wait_for(lambda p=published: caught_up(p - 2 * CHUNK), 600, "the consumer to catch up", every=0.5)
        want_rows = len(valid) + want_rejections
        wait_for(lambda: caught_up(want_rows), 600, f"{want_rows:,} rows", every=0.5)
        wait_for(lambda: consumer.spool_depth() == 0, 120, "an empty spool", every=1.0)
        elapsed = time.monotonic() - began

        assert consumer.exited() is None and consumer.starts == 1, "the consumer crashed or was restarted"
        stored = set(chaos_traffic.stored_readings(url))
        assert stored == {m.key for m in valid.values()}
        quarantined = quarantine_by_fuzz_id(url)
        assert set(quarantined) == set(hostile), "a quarantine row for a valid message, or one missing"
        wrong = Counter()
        for fuzz_id, reasons in quarantined.items():
            m = hostile[fuzz_id]
            if m.reason not in reasons or len(reasons) != rejections(pc, m):
                wrong[(m.defect, m.reason, tuple(sorted(reasons)))] += 1
        assert not wrong, f"wrong reasons (defect, expected, got): {wrong.most_common(20)}"

        ledger = chaos.reconcile(url, since)
        assert ledger["received"] == N, ledger
        assert ledger["stored"] == len(valid), ledger
        assert ledger["quarantined"] == want_rejections, ledger
        assert ledger["duplicates"] == 0 and ledger["quarantine_duplicates"] == 0, ledger
        kinds = Counter(m.defect.startswith("corpus:") for m in hostile.values())
        corpus_kinds = len({m.defect for m in hostile.values() if m.defect.startswith("corpus:")})
        print(
            f"\nfuzz: {N:,} messages ({len(valid):,} valid, {kinds[False]:,} with one built-in defect, "
            f"{kinds[True]:,} poison corpus variants of {corpus_kinds} kinds) in "
            f"{elapsed:.1f} s ({N / elapsed:,.0f} msg/s), 0 crashes, ledger {ledger}"
        )
    finally:
        consumer.stop()
        broker.stop()
