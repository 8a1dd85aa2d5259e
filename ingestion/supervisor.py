"""python -m ingestion.supervisor --name NAME [options] -- COMMAND...

Runs one child program and keeps it running: when it exits unexpectedly (a non-zero code or a signal) it is
started again after an exponential backoff with jitter (tenacity's wait arithmetic), capped; the backoff starts
over once the child had run healthy for a while. One log line per restart says which program exited how, and
when it comes back. SIGTERM / SIGINT are forwarded to the child (its whole process group) and the supervisor
exits 0 once the child is gone. A child that exits 0 on its own finished its job and is not restarted (so a
one-shot such as a backfill can run under the supervisor too).

The child runs in a session of its own: a Ctrl-C in the terminal reaches the supervisor only, which decides
the shutdown (forward, then wait up to --stop-timeout, then SIGKILL the group), instead of every process
receiving it at once. A supervisor started with SIGINT ignored (a background job of a script, such as
scripts/run.sh) keeps ignoring it, by Unix convention: its launcher stops it with SIGTERM, in the order it
chooses. On Linux, the supervisor is sent SIGTERM when its launcher dies, and the child when the supervisor
dies (prctl PR_SET_PDEATHSIG), so a killed launcher leaves no orphans behind (except a child that changes its
user, e.g. Mosquitto or PostgreSQL started as root: the kernel clears the setting then).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from tenacity import RetryCallState, wait_exponential_jitter

log = logging.getLogger("supervisor")


class Backoff:
    """Delay before restart number n: initial x 2^(n-1) plus up to `initial` of jitter, capped at `cap`
    (tenacity.wait_exponential_jitter). The jitter is proportional to `initial` so that the delays of one
    crash loop never decrease while they grow, and two programs crashing together do not restart in step."""

    def __init__(self, initial: float = 1.0, cap: float = 30.0):
        self._wait = wait_exponential_jitter(multiplier=initial, max=cap, jitter=initial)
        self._state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # only attempt_number is read
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        self.attempt += 1
        self._state.attempt_number = self.attempt
        return float(self._wait(self._state))


_PR_SET_PDEATHSIG = 1


def _die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux; a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
        stop_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name, self.command = name, list(command)
        self.backoff = Backoff(initial_backoff, max_backoff)
        self.healthy_after, self.stop_timeout, self.clock = healthy_after, stop_timeout, clock
        self.stopping = threading.Event()
        self.child: subprocess.Popen | None = None
        self._killer: threading.Timer | None = None
        self.restarts = 0

    # --- signals ---------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # see the module docstring
            signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        if not self.stopping.is_set():
            log.info("%s: %s received, stopping the child", self.name, signal.Signals(signum).name)
        self.stopping.set()
        self._signal_child(signum)
        if self._killer is None and self.child is not None:
            # A child that ignores the request is killed (with its group) after stop_timeout.
            self._killer = threading.Timer(self.stop_timeout, self._kill_child)
            self._killer.daemon = True
            self._killer.start()

    def _signal_child(self, signum: int) -> None:
        child = self.child
        if child is None or child.returncode is not None:
            return
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    def _kill_child(self) -> None:
        if self.child is not None and self.child.poll() is None:
            log.warning("%s: child did not stop within %gs, sending SIGKILL", self.name, self.stop_timeout)
            self._signal_child(signal.SIGKILL)

    # --- the loop --------------------------------------------------------------------------------------
    def _start_child(self) -> subprocess.Popen | None:
        try:
            return subprocess.Popen(self.command, start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:  # e.g. the program is missing: retried with the same backoff, and said so
            log.error("%s: cannot start %s: %s", self.name, shlex.join(self.command), exc)
            return None

    def run(self) -> int:
        program = shlex.join(self.command).replace("\n", "\\n")  # one log line per event, whatever the argv
        if len(program) > 160:
            program = program[:157] + "..."
        while not self.stopping.is_set():
            started = self.clock()
            self.child = self._start_child()
            if self.child is not None:
                log.info("%s: started %s (pid %d)", self.name, program, self.child.pid)
                if self.stopping.is_set():  # a signal arrived while the child was being started
                    self._on_signal(signal.SIGTERM, None)
                code = self.child.wait()
            else:
                code = 127
            ran = self.clock() - started
            if self.stopping.is_set():
                log.info("%s: child %s; stopped cleanly", self.name, describe_exit(code))
                break
            if code == 0:
                log.info("%s: %s finished (exit 0) after %.1fs; not restarted", self.name, program, ran)
                break
            if ran >= self.healthy_after:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.restarts += 1
            at = datetime.now(UTC) + timedelta(seconds=delay)
            log.warning(
                "%s: %s %s after %.1fs; restart #%d in %.2fs (at %s UTC)",
                self.name,
                program,
                describe_exit(code),
                ran,
                self.restarts,
                delay,
                at.strftime("%H:%M:%S"),
            )
            self.stopping.wait(delay)  # a stop request ends the wait at once
        if self._killer is not None:
            self._killer.cancel()
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: python -m ingestion.supervisor --name NAME [options] -- COMMAND...", file=sys.stderr)
        return 2
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m ingestion.supervisor", description=__doc__.split("\n\n")[1])
    parser.add_argument("--name", required=True, help="how the program is called in the log lines")
    parser.add_argument("--initial-backoff", type=float, default=1.0, help="first restart delay, s (default 1)")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="longest restart delay, s (default 30)")
    parser.add_argument(
        "--healthy-after", type=float, default=60.0, help="a run this long resets the backoff, s (default 60)"
    )
    parser.add_argument(
        "--stop-timeout", type=float, default=30.0, help="after a stop request, SIGKILL after this long, s"
    )
    args = parser.parse_args(own)
    if not command:
        parser.error("no command after --")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s supervisor[%(process)d] %(message)s", stream=sys.stderr
    )
    supervisor = Supervisor(
        args.name,
        command,
        initial_backoff=args.initial_backoff,
        max_backoff=args.max_backoff,
        healthy_after=args.healthy_after,
        stop_timeout=args.stop_timeout,
    )
    parent = os.getppid()
    supervisor.install_signal_handlers()
    _die_with_parent()
    if os.getppid() != parent:  # the launcher died before the request above took effect
        return 0
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
