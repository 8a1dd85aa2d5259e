"""The InfluxDB archive end to end against a real InfluxDB-protocol store (VictoriaMetrics, Debian package): what
the database holds is written, read back through the store's export API and compared point by point with
sensor_data / sensor_data_agg; incremental runs copy only what is new; replays change nothing; a server that is away
is a clear error that leaves the watermark where it was."""

from __future__ import annotations

import math
import time

import pytest

from ingestion.archive.influx import STATUS_CODES, WINDOW_NAMES, ArchiveTargetError, InfluxArchiver, InfluxConfig
from ingestion.archive.source import RAW, WINDOWS, Source
from tests.support.archive_seed import seed_history
from tests.support.services import free_port, require, wait_for
from tests.support.victoria import victoria, victoria_path


@pytest.fixture
def vm(output_dir):
    require(victoria_path() is not None, "VictoriaMetrics (Debian package victoria-metrics)")
    with victoria(output_dir / "victoria") as server:
        yield server


def exported(vm) -> dict[tuple, float]:
    """{(metric name, sensor_id, commune, kind, window, time ms): value} of every sample the store holds."""
    samples = {}
    for series in vm.export():
        m = series["metric"]
        key = (m["__name__"], m["sensor_id"], m["commune"], m["kind"], m.get("window", ""))
        for t, v in zip(series["timestamps"], series["values"], strict=True):
            assert (*key, t) not in samples, f"two samples for one point {key} {t}"
            samples[(*key, t)] = v
    return samples


def settled(vm, want: dict) -> dict[tuple, float]:
    """The store's samples once it shows at least as many points as the database holds (or its last export after
    30 s, for assert_same_points to report): VictoriaMetrics makes freshly written series searchable asynchronously,
    and an export right after its flush was seen missing almost all of a run's ~480k points (2 runs in 21)."""
    last: dict = {}

    def complete() -> bool:
        nonlocal last
        last = exported(vm)
        return len(last) >= len(want)

    try:
        wait_for(complete, 30, "VictoriaMetrics to show every point written", every=0.5)
    except AssertionError:
        pass  # the comparison below says what is missing
    return last


def expected(conn) -> dict[tuple, float]:
    """The same points computed from the database (what the archive was asked to send)."""
    points = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT d.metric, d.sensor_id, s.commune, s.kind, (extract(epoch FROM d.time) * 1000)::bigint,"
            " d.value, d.status FROM sensor_data d JOIN sensors s USING (sensor_id)"
        )
        for metric, sensor, commune, kind, t, value, status in cur.fetchall():
            points[(f"{metric}_value", sensor, commune, kind, "", t)] = value
            points[(f"{metric}_status", sensor, commune, kind, "", t)] = float(STATUS_CODES[status])
        cur.execute(
            "SELECT a.metric, a.sensor_id, s.commune, s.kind, extract(epoch FROM a.window_end - a.window_start)::int,"
            " (extract(epoch FROM a.window_start) * 1000)::bigint, a.avg, a.min, a.max, a.count, a.n_warning,"
            " a.n_critical, a.n_fault, a.stddev FROM sensor_data_agg a JOIN sensors s USING (sensor_id)"
        )
        for metric, sensor, commune, kind, size, t, *values in cur.fetchall():
            names = ("avg", "min", "max", "count", "n_warning", "n_critical", "n_fault", "stddev")
            for name, value in zip(names, values, strict=True):
                if value is not None:
                    points[(f"{metric}_windows_{name}", sensor, commune, kind, WINDOW_NAMES[size], t)] = float(value)
    return points


def assert_same_points(got: dict, want: dict) -> None:
    # Compared as two set differences: asserting `got.keys() == want.keys()` made pytest diff ~100k keys with
    # difflib on failure, which outlasted the 600 s test timeout and hid the message (a clean-clone CI run).
    missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
    assert not missing and not extra, (
        f"missing {len(missing)} e.g. {sorted(missing)[:3]}, extra {len(extra)} e.g. {sorted(extra)[:3]}"
    )
    bad = [k for k, v in want.items() if not math.isclose(got[k], v, rel_tol=1e-12, abs_tol=1e-9)]
    assert not bad, f"{len(bad)} values differ, e.g. {[(k, got[k], want[k]) for k in bad[:3]]}"


def test_history_is_archived_point_by_point_incrementally_and_replay_safe(db_url, conn, vm):
    # The first part ends on an hour boundary and the second starts 10 min later, so the second creates windows
    # and updates none: InfluxDB keeps the last write of a point (an updated window overwrites its point), but
    # VictoriaMetrics' deduplication keeps either sample of equal timestamps, so overwrites cannot be compared here;
    # that updated windows are sent again is checked by the counts below.
    boundary = (time.time() // 3600 - 1) * 3600
    first = seed_history(db_url, hours=2, end=boundary)
    source = Source(db_url, lag_s=0)
    archiver = InfluxArchiver(source, InfluxConfig(url=vm.url, token="t"), progress=lambda _: None)

    done = archiver.run()
    assert done["raw"] == first
    assert_same_points(settled(vm, want := expected(conn)), want)

    # Incremental: what came since (and the windows it touches); only new or updated rows travel.
    second = seed_history(db_url, hours=(time.time() - 120 - boundary - 600) / 3600, end=time.time() - 120)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data_agg WHERE updated_at > (SELECT upto_time FROM"
                    " archive_watermarks WHERE target = 'influx' AND stream = 'windows')")  # fmt: skip
        new_windows = cur.fetchone()[0]
    done = archiver.run()
    assert done == {"raw": second, "windows": new_windows}
    assert new_windows > 0
    assert_same_points(settled(vm, want := expected(conn)), want)

    # Nothing new: nothing travels. A replay from scratch (watermarks lost) rewrites the same points.
    assert archiver.run() == {"raw": 0, "windows": 0}
    with conn.cursor() as cur:
        cur.execute("DELETE FROM archive_watermarks")
    assert archiver.run()["raw"] == first + second
    assert_same_points(settled(vm, want := expected(conn)), want)
    source.close()


def test_a_server_that_is_away_is_a_clear_error_and_keeps_the_watermark(db_url, conn):
    seed_history(db_url, hours=0.5)
    source = Source(db_url, lag_s=0)
    config = InfluxConfig(url=f"http://127.0.0.1:{free_port()}", max_retries=1, timeout_ms=2_000)
    with pytest.raises(ArchiveTargetError, match="unreachable"):
        InfluxArchiver(source, config, progress=lambda _: None).run((RAW, WINDOWS))
    assert source.mark("influx", "raw").upto is None
    source.close()
