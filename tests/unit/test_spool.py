"""The durable spool on its own: order, bound, persistence across a SIGKILL, one owner, readable from outside."""

import signal
import subprocess
import sys
import textwrap

import pytest

from ingestion.spool import ENTRY_OVERHEAD, Spool, SpoolLocked, SpoolUnwritable, read_stats
from tests.support.app import ROOT


def msgs(n: int, start: int = 0, size: int = 100) -> list[tuple[bytes, float, str]]:
    return [(f"{i:08d}".encode().ljust(size, b"x"), 1_700_000_000.0 + i, "test") for i in range(start, start + n)]


def test_entries_come_back_in_order_and_are_deleted_only_when_asked(tmp_path):
    with Spool(tmp_path) as spool:
        assert spool.append(msgs(5)) == 5
        assert spool.append(msgs(5, start=5)) == 5
        entries = spool.peek(100)
        assert [e.payload[:8] for e in entries] == [f"{i:08d}".encode() for i in range(10)]
        assert [e.seq for e in entries] == sorted(e.seq for e in entries)
        spool.delete_through(entries[3].seq)
        assert [e.payload[:8] for e in spool.peek(2)] == [b"00000004", b"00000005"]
        stats = spool.stats()
        assert stats.depth == 6 and stats.oldest_received_at == 1_700_000_004.0


def test_the_bound_takes_what_fits_and_frees_room_on_delete(tmp_path):
    cost = 100 + ENTRY_OVERHEAD
    with Spool(tmp_path, max_bytes=10 * cost) as spool:
        assert spool.append(msgs(7)) == 7
        assert spool.append(msgs(7, start=7)) == 3  # only 3 fit: the caller keeps (does not acknowledge) 4
        assert spool.append(msgs(1, start=99)) == 0
        spool.delete_through(spool.peek(4)[-1].seq)
        assert spool.append(msgs(4, start=10)) == 4
        assert [e.payload[:8] for e in spool.peek(100)][-5:] == [f"{i:08d}".encode() for i in (9, 10, 11, 12, 13)]


def test_a_sigkilled_owner_loses_nothing_it_had_acknowledged(tmp_path):
    # A child appends batches and prints how many were durable; we SIGKILL it, then reopen the spool.
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from ingestion.spool import Spool
        spool = Spool({str(tmp_path)!r})
        i = 0
        while True:
            n = spool.append([(b"m%d" % (i + k), 0.0, "t") for k in range(50)])
            i += n
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 2000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with Spool(tmp_path) as spool:
        payloads = [e.payload for e in spool.peek(1_000_000)]
    assert len(payloads) >= acknowledged
    assert payloads[:acknowledged] == [b"m%d" % i for i in range(acknowledged)]


def test_one_owner_at_a_time_and_a_reader_from_outside(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append(msgs(3))
        with pytest.raises(SpoolLocked):
            Spool(tmp_path)
        stats = read_stats(tmp_path)
        assert stats.depth == 3 and stats.oldest_received_at == 1_700_000_000.0
    assert read_stats(tmp_path / "nowhere") is None
    with Spool(tmp_path) as again:  # the lock went with its owner; the id stays
        assert again.depth == 3


def test_the_spool_keeps_its_identity(tmp_path):
    with Spool(tmp_path) as spool:
        first = spool.spool_id
    with Spool(tmp_path) as spool:
        assert spool.spool_id == first


def test_a_disk_that_refuses_writes_is_a_clear_error_not_a_loss(tmp_path):
    # RLIMIT_FSIZE is a real OS refusal (EFBIG) that applies to root too: the spool cannot grow past 256 KiB.
    code = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        from ingestion.spool import Spool, SpoolUnwritable
        spool = Spool({str(tmp_path)!r})
        stored = 0
        try:
            while True:
                stored += spool.append([(b"x" * 1000, 0.0, "t")] * 10)
        except SpoolUnwritable as exc:
            print(stored, "|", exc, flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    stored, message = out.stdout.split("|", 1)
    assert "refused a write" in message and ("full" in message or "disk" in message or "I/O" in message)
    with Spool(tmp_path) as spool:
        assert spool.depth == int(stored)  # everything it said it stored is there; the refused batch is not


def test_an_unusable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolUnwritable, match="cannot use spool directory"):
        Spool(blocker / "spool")


def test_the_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        Spool(tmp_path, max_bytes=0)


def test_a_message_larger_than_the_whole_spool_still_goes_through_when_it_is_empty(tmp_path):
    with Spool(tmp_path, max_bytes=1000) as spool:
        assert spool.append([(b"x" * 5000, 0.0, "t"), (b"y", 0.0, "t")]) == 1  # never blocks the consumer
        assert spool.append([(b"y", 0.0, "t")]) == 0  # full now: the broker keeps it
        spool.delete_through(spool.peek(1)[0].seq)
        assert spool.append([(b"y", 0.0, "t")]) == 1
