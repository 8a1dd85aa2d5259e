"""The eight chaos scenarios of issue 8, shared by the CI tests (tests/integration/test_chaos.py, short
variants) and the bench (bench/chaos.py, long variants): only the durations differ.

Every scenario: fresh database on the dedicated cluster, a fresh broker (shipped config, persistence on), the
real consumer process with its spool, the simulator streaming at its default rate (1 tick/s, 60 sensors); then
the fault, the recovery, and the exact comparison of sent vs stored (`chaos_traffic.compare`).

Recovery time = from the end of the fault until every reading sent up to that instant is in sensor_data (the
backlog of the fault is drained); the stream goes on meanwhile.
"""

from __future__ import annotations

import resource
import shutil
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support import chaos, chaos_traffic
from tests.support.chaos import Broker, ChaosPostgres, Consumer
from tests.support.chaos_traffic import Expected, Row, Sender
from tests.support.hostile import HostileStream
from tests.support.services import wait_for

DEFAULT_SPOOL_BYTES = 256 * 1024 * 1024
SEED = 8


@dataclass
class Durations:
    """Seconds. CI = short variants; bench = the issue's full lengths."""

    outage_kill: float = 60  # 1: PostgreSQL SIGKILLed and kept down
    outage_stop: float = 45  # 2: PostgreSQL stopped (the bench: 5 minutes)
    consumer_down: float = 5  # 3
    broker_down: float = 5  # 4
    outage_tiny_spool: float = 40  # 7
    unwritable: float = 10  # 8
    warmup: float = 4  # streaming before the fault
    tail: float = 4  # streaming after the recovery
    drain_timeout: float = 240


CI = Durations()
BENCH = Durations(outage_stop=300, consumer_down=60, broker_down=30, outage_tiny_spool=120, unwritable=60,
                  warmup=10, tail=10, drain_timeout=900)  # fmt: skip


@dataclass
class Run:
    """One scenario's services and sender; `finish()` gives its row."""

    cluster: ChaosPostgres
    workdir: Path
    name: str
    durations: Durations
    fmt: str = "multi"
    spool_max_bytes: int = DEFAULT_SPOOL_BYTES
    faults: object = None
    exact_received: bool = True  # False where QoS 1 may redeliver (consumer killed, broker restarted)
    extra_sent: list[bytes] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        shutil.rmtree(self.workdir, ignore_errors=True)  # a fresh spool: never another run's messages
        self.workdir.mkdir(parents=True)
        self.url = self.cluster.url(self.cluster.fresh_database())
        self.since = datetime.now(UTC)
        self.broker = Broker(self.workdir)
        self.broker.start()
        client_id = f"chaos-{self.name}"
        self.broker.provision_session(client_id)
        self.consumer = Consumer(
            self.url, self.broker, self.workdir, client_id=client_id, spool_max_bytes=self.spool_max_bytes
        )
        self.consumer.start()
        # A fixed simulated start a little in the past: every timestamp is valid, none in the future.
        self.sender = Sender(self.broker.port, seed=SEED, fmt=self.fmt, start=float(int(time.time()) - 900),
                             faults=self.faults)  # fmt: skip
        self.fault_end: float | None = None
        self.recovery_s: float | None = None

    def begin(self) -> None:
        self.sender.start()
        wait_for(lambda: chaos.count_rows(self.url, "sensor_data") > 0, 60, "first readings stored")
        self.hold(self.durations.warmup)

    def hold(self, seconds: float) -> None:
        """Keep the current state (fault or stream) for `seconds`: the length of a fault is its definition, not a
        synchronisation."""
        threading.Event().wait(max(0.0, seconds))

    def fault_over(self, *, sender_was_blocked: bool = False) -> None:
        """The fault ended now: wait until everything sent so far is stored, and time it. When the fault blocked
        the sender (broker away), its backlog is the tick it could not publish: wait for that one to be acknowledged
        first."""
        self.fault_end = time.monotonic()
        if sender_was_blocked:
            ticks = self.sender.ticks
            wait_for(lambda: self.sender.ticks > ticks, 120, "the sender acknowledged again")
        expected = Expected.of(self.sender.sent() + self.extra_sent)
        cutoff = max(t for _, _, t in expected.readings)
        want = expected.readings_until(cutoff)

        def drained():
            assert self.consumer.exited() is None, f"consumer died: {self.consumer.log()[-3000:]}"
            return chaos_traffic.count_until(self.url, cutoff) >= want

        try:
            wait_for(drained, self.durations.drain_timeout, f"{want:,} readings of the fault's backlog", every=0.5)
        except AssertionError as exc:  # the row still gets compared, and says what is missing
            self.notes.append(str(exc))
            return
        self.recovery_s = time.monotonic() - self.fault_end

    def finish(self) -> Row:
        self.hold(self.durations.tail)
        sent = self.sender.stop() + self.extra_sent
        expected = Expected.of(sent)
        want_q = sum(expected.quarantine.values())

        def all_in():
            assert self.consumer.exited() is None, f"consumer died: {self.consumer.log()[-3000:]}"
            n = chaos.count_rows(self.url, "sensor_data")
            q = chaos.count_rows(self.url, "quarantine")
            assert n <= len(expected.readings) and q <= want_q, f"more rows than sent: {n}, {q}"
            return n == len(expected.readings) and q == want_q and self.consumer.spool_depth() == 0

        try:
            wait_for(all_in, self.durations.drain_timeout, "every sent reading stored and the spool empty", 1.0)
        except AssertionError as exc:
            self.notes.append(str(exc))
        ledger = chaos.reconcile(self.url, self.since)
        row = chaos_traffic.compare(self.name, expected, self.url, ledger, self.recovery_s, "; ".join(self.notes))
        row.details["received_exact"] = self.exact_received
        row.details["sender_blocked_s"] = round(self.sender.blocked_s, 1)
        row.details["consumer_starts"] = self.consumer.starts
        row.details["ledger_checks"] = ledger_checks(ledger, expected, row, exact=self.exact_received)
        return row

    def close(self) -> None:
        """Everything down, also after a failed scenario (the sender may still be running then)."""
        self.sender.halt()
        self.consumer.stop()
        self.broker.stop()


def ledger_checks(ledger: dict, expected: Expected, row: Row, *, exact: bool) -> list[str]:
    """The durable ledger against the sender's count and the rows; returns the disagreements."""
    problems = []
    if exact and ledger["received"] != expected.messages:
        problems.append(f"ledger received {ledger['received']} != {expected.messages} sent")
    if not exact and ledger["received"] < expected.messages:
        problems.append(f"ledger received {ledger['received']} < {expected.messages} sent")
    if ledger["stored"] != row.stored:
        problems.append(f"ledger stored {ledger['stored']} != {row.stored} rows")
    if ledger["quarantined"] != row.quarantined:
        problems.append(f"ledger quarantined {ledger['quarantined']} != {row.quarantined} rows")
    return problems


# --- the scenarios --------------------------------------------------------------------------------------------


def _database_outage(run: Run, *, kill: bool, seconds: float) -> None:
    run.begin()
    mark = len(run.consumer.log())
    if kill:
        run.cluster.kill9()
    else:
        run.cluster.stop()
    run.consumer.wait_log("database unavailable", 60, after=mark)
    run.hold(seconds)
    depth = run.consumer.spool_depth()
    assert depth > 0, "the spool did not grow while the database was away"
    run.notes.append(f"spool depth at the end of the outage {depth:,}")
    run.cluster.restart()
    run.fault_over()
    run.consumer.wait_log("database back", 60, after=mark)


def s1_postgres_sigkill(run: Run) -> None:
    _database_outage(run, kill=True, seconds=run.durations.outage_kill)


def s2_postgres_stopped(run: Run) -> None:
    _database_outage(run, kill=False, seconds=run.durations.outage_stop)


def s3_consumer_sigkill(run: Run) -> None:
    """SIGKILL mid-batch, twice over: 3,000 messages land at wire speed and the consumer is frozen (SIGSTOP) while
    it is still spooling and acknowledging them; 2,000 more are published to the frozen process (delivered to
    its session, never read); then SIGKILL, a pause, and a restart with the same client id and spool. The
    second burst can only be stored if the broker delivers it again; copies of the first that were spooled
    but not yet acknowledged come back too and must be stored once (duplicates absorbed)."""
    run.exact_received = False
    run.begin()
    stream = HostileStream(SEED, int(time.time()) - 3 * 86400)
    first = [m.payload for m in stream.mixed(3000, 0.0)]
    second = [m.payload for m in stream.mixed(2000, 0.0)]
    chaos_traffic.publish_burst(run.broker.port, first)
    run.consumer.proc.send_signal(signal.SIGSTOP)
    chaos_traffic.publish_burst(run.broker.port, second)
    run.extra_sent.extend(first + second)
    run.consumer.kill9()
    run.notes.append(f"{chaos.count_rows(run.url, 'sensor_data'):,} readings stored at the kill")
    run.hold(run.durations.consumer_down)
    run.consumer.start()
    run.fault_over()


def s4_broker_restart(run: Run) -> None:
    run.exact_received = False
    run.begin()
    # A backlog queued in the broker when it stops: only its persistence brings those messages back.
    burst = [m.payload for m in HostileStream(SEED, int(time.time()) - 3 * 86400).mixed(5000, 0.0)]
    chaos_traffic.publish_burst(run.broker.port, burst)
    run.extra_sent.extend(burst)
    run.broker.stop()
    run.notes.append(f"{chaos.count_rows(run.url, 'sensor_data'):,} readings stored when the broker stopped")
    run.hold(run.durations.broker_down)
    run.broker.start()
    run.fault_over(sender_was_blocked=True)


def s5_burst(run: Run, n_each: int = 10_000) -> tuple[float, Counter]:
    """10,000 malformed (unique, by construction) + 10,000 valid messages as fast as possible, while the
    devices keep streaming. Returns the burst duration (first publish to last PUBACK) and the reasons the
    malformed ones were built with."""
    run.begin()
    stream = HostileStream(SEED, int(time.time()) - 3 * 86400)
    # Small malformed ones (the 70 KiB payload_too_large kind is the fuzz test's business, not a burst's).
    small = (m for m in iter(stream.hostile, None) if m.reason != "payload_too_large")
    malformed = [next(small) for _ in range(n_each)]
    burst = [m.payload for m in malformed] + [stream.valid().payload for _ in range(n_each)]
    burst = [burst[i // 2] if i % 2 == 0 else burst[n_each + i // 2] for i in range(2 * n_each)]  # interleaved
    seconds = chaos_traffic.publish_burst(run.broker.port, burst)
    run.extra_sent.extend(burst)
    run.notes.append(f"burst of {len(burst):,} published and acknowledged in {seconds:.2f} s")
    run.fault_over()
    return seconds, Counter(m.reason for m in malformed)


def poison_messages() -> list[tuple[str, bytes, str | None]]:
    """The poison corpus (tests/data/poison_corpus.py): (name, payload, reason), reason None for the messages
    whose hostile parts must be ignored (their reading is stored)."""
    from tests.data import poison_corpus as pc

    return pc.CORPUS + [(name, payload, None) for name, payload, _ in pc.ACCEPTED_HOSTILE]


def s6_poison_corpus(run: Run, poison: list[tuple[str, bytes, str | None]]) -> None:
    run.begin()
    for start in range(0, len(poison), 5):  # a few poison messages per tick, among the valid traffic
        run.sender.inject([payload for _, payload, _ in poison[start : start + 5]])
        run.hold(0.2)
    wait_for(lambda: run.sender.injections_pending() == 0, 60, "poison messages published")
    run.fault_over()


def poison_mismatches(url: str, poison: list[tuple[str, bytes, str | None]]) -> dict:
    """Each poison message in quarantine with the reason the corpus states (not the validator's own opinion), as
    many rows as the corpus says it has rejections; an ignored-hostile one with none. Returns what disagrees."""
    from ingestion.readings import payload_text
    from tests.data.poison_corpus import REJECTIONS

    reasons_of: dict[str, list[str]] = {}
    for payload, reason in chaos_traffic.stored_quarantine(url):
        reasons_of.setdefault(payload, []).append(reason)
    wrong = {}
    for name, payload, reason in poison:
        got = reasons_of.pop(payload_text(payload), [])
        want = 0 if reason is None else REJECTIONS.get(name, 1)
        if len(got) != want or (reason is not None and reason not in got):
            wrong[name] = (reason, got)
    wrong.update({f"no poison message: {payload[:80]!r}": (None, r) for payload, r in reasons_of.items()})
    return wrong


def s7_tiny_spool(run: Run) -> None:
    run.begin()
    mark = len(run.consumer.log())
    run.cluster.stop()
    down_at = time.monotonic()
    run.consumer.wait_log("database unavailable", 60, after=mark)
    run.consumer.wait_log("spool full", run.durations.outage_tiny_spool + 60, after=mark)
    run.hold(run.durations.outage_tiny_spool - (time.monotonic() - down_at))
    status = run.consumer.status()
    run.notes.append(f"spool at the end of the outage: {status['depth']:,} messages, {status['bytes']:,} bytes")
    assert status["bytes"] <= status["max_bytes"], status
    run.cluster.restart()
    run.fault_over()
    run.consumer.wait_log("spool accepting again", 60, after=mark)


def s8_spool_unwritable(run: Run) -> None:
    """RLIMIT_FSIZE on the running consumer (prlimit): every write past byte 1 of any file fails with EFBIG (the
    kernel checks the write offset against the limit), as on a full disk; Python ignores SIGXFSZ, so the write
    just fails. Works as root, needs no mount. Lifted again for the recovery."""
    # A batch committed to PostgreSQL whose removal from the spool failed is drained again after the recovery
    # (stored once, counted as duplicates): received may exceed sent, as after a consumer kill.
    run.exact_received = False
    run.begin()
    mark = len(run.consumer.log())
    pid = run.consumer.proc.pid
    before = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, before[1]))
    try:
        end = run.consumer.wait_log("spool unwritable", 60, after=mark)
        run.hold(run.durations.unwritable)
        assert run.consumer.exited() is None, "the consumer died on a full disk"
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, before)
    run.fault_over()
    run.consumer.wait_log("spool writable again", 60, after=end)


def options(n: int) -> dict:
    """Per-scenario settings shared by the test and the bench: most stream the multi-metric format cleanly;
    scenario 2 streams single readings with the simulator's own faults (2 % sent twice, 1 % late, 1 %
    malformed), scenario 7 has its tiny spool."""
    from ingestion.simulator import FaultConfig

    if n == 2:
        return {"fmt": "single", "faults": FaultConfig(duplicate_rate=0.02, late_rate=0.01, malformed_rate=0.01)}
    if n == 7:
        return {"spool_max_bytes": 200_000}
    return {}


SCENARIOS = {
    1: ("1 PostgreSQL SIGKILL", s1_postgres_sigkill),
    2: ("2 PostgreSQL stopped", s2_postgres_stopped),
    3: ("3 consumer SIGKILL + restart", s3_consumer_sigkill),
    4: ("4 broker restart", s4_broker_restart),
    5: ("5 burst 10k malformed + 10k valid", s5_burst),
    6: ("6 poison corpus in valid traffic", s6_poison_corpus),
    7: ("7 tiny spool during an outage", s7_tiny_spool),
    8: ("8 spool unwritable (disk full)", s8_spool_unwritable),
}
