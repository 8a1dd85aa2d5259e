"""Supervision with real processes: `python -m ingestion.supervisor` restarts a killed child and says so, backs
off while a child keeps crashing (measured from the child's own start times, not the supervisor's arithmetic),
stops cleanly on SIGTERM; `python -m db watch` starts a killed embedded PostgreSQL again; and scripts/run.sh
keeps the dashboard up while its ingestion process is killed and brought back. Waits are on conditions (file
contents, log lines, HTTP answers), each with a deadline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from db.embedded import EmbeddedPostgres
from tests.support.postgres import binaries_available
from tests.support.services import free_port, require, wait_for

ROOT = Path(__file__).resolve().parents[2]
# A child that records each of its starts (pid and wall time), then waits for a signal.
RECORDING_CHILD = (
    "import os, signal, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()} {time.time()}\\n')\nsignal.pause()\n"
)

# A child that says when it is ready, and which signal asked it to stop.
STOPPABLE_CHILD = (
    "import signal, sys, time\n"
    "def bye(signum, _f):\n"
    "    open(sys.argv[1], 'w').write(signal.Signals(signum).name); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "open(sys.argv[1], 'w').write('ready')\n"
    "while True: time.sleep(3600)\n"
)


def supervise(tmp_path: Path, *command: str, options: tuple[str, ...] = ()) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "supervisor.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestion.supervisor", "--name", "child", *options, "--", *command],
        cwd=ROOT,
        stdout=open(log, "a"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
    )
    return proc, log


def starts(path: Path) -> list[tuple[int, float]]:
    if not path.exists():
        return []
    return [(int(p), float(t)) for p, t in (line.split() for line in path.read_text().splitlines() if line)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_sigkilled_child_is_restarted_and_the_restart_is_said(tmp_path):
    record = tmp_path / "starts"
    sup, log = supervise(
        tmp_path, sys.executable, "-c", RECORDING_CHILD, str(record), options=("--initial-backoff", "0.2")
    )
    try:
        first = wait_for(lambda: starts(record), 20, "the first start")[0][0]
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: starts(record)[1:], 20, "a restart")[0][0]
        assert second != first and alive(second)
        text = log.read_text()
        assert re.search(
            r"child: .* was killed by SIGKILL after [\d.]+s; restart #1 in [\d.]+s \(at \d\d:\d\d:\d\d UTC\)", text
        )
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(20) == 0
        assert not alive(second)  # the child went with it
        assert len(starts(record)) == 2  # and was not restarted after the stop request
    finally:
        if sup.poll() is None:
            sup.kill()


def test_backoff_grows_while_the_child_keeps_crashing_and_resets_after_a_healthy_run(tmp_path):
    record = tmp_path / "starts"
    # Crashes at once five times, then runs 1.5 s (longer than --healthy-after 1) and crashes again.
    child = (
        "import os, sys, time\n"
        f"{RECORDING_CHILD.splitlines()[1]}\n"
        "n = len(open(sys.argv[1]).read().splitlines())\n"
        "time.sleep(1.5 if n == 6 else 0)\n"
        "sys.exit(3)\n"
    )
    options = ("--initial-backoff", "0.1", "--max-backoff", "1.0", "--healthy-after", "1")
    sup, log = supervise(tmp_path, sys.executable, "-c", child, str(record), options=options)
    try:
        wait_for(lambda: len(starts(record)) >= 8, 60, "eight starts")
    finally:
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(20) == 0
    times = [t for _pid, t in starts(record)]
    delays = [
        float(d) for d in re.findall(r"exited with code 3 after [\d.]+s; restart #\d+ in ([\d.]+)s", log.read_text())
    ]
    assert len(delays) >= 7
    # Logged: 0.1-0.2, 0.2-0.3, 0.4-0.5, 0.8-0.9, then the 1.0 cap; back to 0.1-0.2 after the healthy 1.5 s run.
    assert 0.1 <= delays[0] <= 0.2 and delays[0] <= delays[1] <= delays[2] < delays[3] < delays[4] == 1.0
    assert 0.1 <= delays[5] <= 0.2
    # Measured from the children's own start times: each pause at least as long as announced (logged to 0.01 s),
    # and growing.
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= delay - 0.005 for gap, delay in zip(gaps[:5], delays[:5], strict=False)), (gaps, delays)
    assert gaps[3] > gaps[0] + 0.5 and gaps[4] >= 1.0
    assert gaps[6] < gaps[4]  # back to a short delay after the healthy run (its own 1.5 s are in gaps[5])


def test_sigterm_stops_child_and_supervisor_with_exit_0(tmp_path):
    said = tmp_path / "said"
    sup, log = supervise(tmp_path, sys.executable, "-c", STOPPABLE_CHILD, str(said))
    wait_for(lambda: said.exists() and said.read_text() == "ready", 20, "child ready")
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(20) == 0
    assert said.read_text() == "SIGTERM"  # forwarded, and handled by the child itself
    assert "restart" not in log.read_text()


def test_a_child_ignoring_the_stop_is_killed_after_the_timeout(tmp_path):
    said = tmp_path / "said"
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(sys.argv[1], 'w').write('ready')\n"
        "while True: time.sleep(3600)\n"
    )
    sup, log = supervise(tmp_path, sys.executable, "-c", child, str(said), options=("--stop-timeout", "1"))
    wait_for(lambda: said.exists(), 20, "child ready")
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(20) == 0
    text = log.read_text()
    assert "did not stop within 1s, sending SIGKILL" in text and "was killed by SIGKILL; stopped cleanly" in text


def test_a_killed_supervisor_leaves_no_orphan(tmp_path):
    """SIGKILL of the supervisor itself: the kernel asks its child to stop (PR_SET_PDEATHSIG), cleanly."""
    said = tmp_path / "said"
    sup, _log = supervise(tmp_path, sys.executable, "-c", STOPPABLE_CHILD, str(said))
    wait_for(lambda: said.exists() and said.read_text() == "ready", 20, "child ready")
    sup.kill()
    sup.wait(20)
    wait_for(lambda: said.read_text() == "SIGTERM", 20, "the orphan asked to stop")


def test_a_clean_exit_is_not_restarted(tmp_path):
    sup, log = supervise(tmp_path, "true")
    assert sup.wait(20) == 0
    text = log.read_text()
    assert text.count("started true") == 1 and "finished (exit 0)" in text


def test_db_watch_starts_a_killed_embedded_postgres_again(output_dir):
    require(binaries_available(), "PostgreSQL server binaries")
    server = EmbeddedPostgres(data_dir=output_dir / f"watch-{os.getpid()}" / "pg", port=free_port())
    server.start()
    env = {**os.environ, "MADININA_PG_DATA": str(server.data_dir), "MADININA_PG_PORT": str(server.port)}
    env.pop("DATABASE_URL", None)
    log = server.data_dir.parent / "watch.log"
    watch = subprocess.Popen(
        [sys.executable, "-m", "db", "watch", "--every", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "checked every" in log.read_text(), 20, "watch started")
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        wait_for(lambda: "is back after" in log.read_text(), 90, "the server back")
        with psycopg2.connect(server.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        new = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        assert new != postmaster
        assert log.read_text().count("is not running; starting it again") == 1  # said once
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(20) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
        server.stop()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


class RunSh:
    """scripts/run.sh started as a user would, on its own embedded PostgreSQL (data dir and port of the test)."""

    def __init__(self, work: Path, **settings: str):
        work.mkdir(parents=True, exist_ok=True)
        self.pg_port, self.port = free_port(), free_port()
        env = {
            **os.environ,
            "MADININA_PG_DATA": str(work / "pg"),
            "MADININA_PG_PORT": str(self.pg_port),
            "MADININA_SPOOL_DIR": str(work / "spool"),
            "PORT": str(self.port),
            **settings,
        }
        env.pop("DATABASE_URL", None)
        self.log = work / "run.log"
        self.proc = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=open(self.log, "w"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job (see Ctrl-C below)
        )
        self.server = EmbeddedPostgres(data_dir=work / "pg", port=self.pg_port)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, name: str) -> list[int]:
        return [int(p) for p in re.findall(rf"{name}: started .* \(pid (\d+)\)", self.text())]

    def query(self, sql: str, params=()):
        try:
            with psycopg2.connect(self.server.dsn, connect_timeout=3) as conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except psycopg2.Error:
            return None

    def newest_reading(self) -> float | None:
        """The newest reading's own time: live readings carry the time of their tick, the backfill's are all
        older than its start, so a reading newer than a kill can only come from a process started after it."""
        rows = self.query("SELECT extract(epoch FROM max(time)) FROM sensor_data")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def dashboard_ok(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.port}/_stcore/health") and _http_ok(f"http://127.0.0.1:{self.port}/")

    def close(self) -> None:
        if self.proc.poll() is None:  # a failed test: stop it the clean way first
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if self.server.is_running():
            self.server.stop()


def _kill_and_see_it_back(run: RunSh, name: str) -> int:
    first = wait_for(lambda: run.pids(name), 240, f"{name} started")[0]
    wait_for(run.dashboard_ok, 120, "dashboard up")
    t0 = wait_for(run.newest_reading, 90, "live readings")
    wait_for(lambda: run.newest_reading() >= t0 + 2, 30, "three ticks of live readings")  # mid-stream, not at start
    os.kill(first, signal.SIGKILL)
    killed_at = time.time()
    second = wait_for(lambda: run.pids(name)[1:], 60, f"{name} restarted")[0]
    assert second != first
    assert re.search(rf"{name}: .* was killed by SIGKILL after [\d.]+s; restart #1", run.text())
    # The others never noticed: the dashboard answers, and the restarted program writes new readings.
    assert run.dashboard_ok()
    wait_for(lambda: (run.newest_reading() or 0) > killed_at + 3, 60, "readings written after the restart")
    assert run.server.is_running()
    return killed_at


@pytest.mark.timeout(420)
def test_run_sh_keeps_the_dashboard_up_while_ingestion_is_killed_and_restarted(output_dir):
    require(binaries_available(), "PostgreSQL server binaries")
    run = RunSh(output_dir / f"runsh-{os.getpid()}", BACKFILL="10m")
    try:
        _kill_and_see_it_back(run, "ingestion")
        second = run.pids("ingestion")[1]
        # Then the database itself: the watchdog starts it again, and ingestion carries on (spooling meanwhile).
        postmaster = int((run.server.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        killed_at = time.time()
        wait_for(lambda: "embedded PostgreSQL is back after" in run.text(), 90, "the database back")
        wait_for(lambda: (run.newest_reading() or 0) > killed_at + 2, 90, "readings written after the database kill")
        assert run.dashboard_ok() and run.text().count("is not running; starting it again") == 1
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(90) == 0
        assert not alive(second) and not run.server.is_running()  # everything stopped, the database included
        text = run.text()
        assert "restart #2" not in text  # nothing else crashed on the way (not even during the database outage)
        # In order: the programs, then the watchdog, then the database.
        order = [
            text.index("ingestion: child exited with code 0; stopped cleanly"),
            text.index("dashboard: child exited with code 0; stopped cleanly"),
            text.index("db-watch: SIGTERM received"),
            text.index("embedded PostgreSQL stopped"),
        ]
        assert order[2] > max(order[:2]) and order[3] > order[2], text[-3000:]
    finally:
        run.close()


@pytest.mark.timeout(420)
def test_run_sh_mqtt_mode_uses_the_shipped_broker_and_a_killed_consumer_loses_nothing(output_dir):
    from tests.support.mosquitto import mosquitto_path, render

    require(binaries_available(), "PostgreSQL server binaries")
    require(mosquitto_path() is not None, "Mosquitto (Debian package mosquitto)")
    work = output_dir / f"runsh-mqtt-{os.getpid()}"
    mqtt_port = free_port()
    run = RunSh(work, MQTT="1", MQTT_PORT=str(mqtt_port), MQTT_DATA=str(work / "mqtt"), BACKFILL="0")
    try:
        # The broker runs the shipped file with the same two substitutions as the tests, nothing else.
        wait_for(lambda: run.pids("mosquitto"), 240, "broker started")
        assert (work / "mqtt" / "mosquitto.conf").read_text() == render(mqtt_port, work / "mqtt" / "data")
        killed_at = _kill_and_see_it_back(run, "consume")
        # What the sender sent, independently of the consumer: the simulator publishes one message per sensor
        # every second (60 sensors, no faults), so the ticks around the kill must all be there, complete.
        newest = run.newest_reading()
        rows = run.query(
            "SELECT extract(epoch FROM time), count(DISTINCT sensor_id) FROM sensor_data "
            "WHERE time > to_timestamp(%s) AND time < to_timestamp(%s) GROUP BY time ORDER BY time",
            (killed_at - 120, newest - 0.5),  # all but the newest tick, which may still be partly in flight
        )
        ticks = [float(t) for t, _n in rows]
        assert ticks[0] < killed_at - 1.5 and ticks[-1] > killed_at + 1.5, (ticks, killed_at)  # spans the kill
        assert all(n == 60 for _t, n in rows), rows
        assert all(abs(b - a - 1.0) < 1e-3 for a, b in zip(ticks, ticks[1:], strict=False)), ticks
        os.killpg(run.proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        assert run.proc.wait(90) == 0
        text = run.text()
        assert not run.server.is_running()
        stopped = {name: text.index(f"{name}: child exited") for name in ("consume", "simulate", "mosquitto")}
        assert stopped["mosquitto"] > max(stopped["consume"], stopped["simulate"]), text[-3000:]
        assert "Saving in-memory database" in text[stopped["consume"] :]  # the broker saved its queues on exit
    finally:
        run.close()
