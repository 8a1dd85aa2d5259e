"""The periodic archiver: a failing target is logged once per outage, retried with a doubling backoff capped at the
period, and the period resumes once it is back (the stop event is injected: no real waiting)."""

from __future__ import annotations

import logging

from ingestion.archive.cli import periodic


class FakeStop:
    """Records every wait; is set after `calls` waits."""

    def __init__(self, calls: int):
        self.calls, self.waits = calls, []

    def is_set(self) -> bool:
        return len(self.waits) >= self.calls

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_failures_back_off_and_are_logged_once_per_outage(caplog):
    outcomes = iter([ConnectionError("refused")] * 5 + [{"raw": 3}, {"raw": 0}])

    def run():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    stop = FakeStop(calls=7)
    with caplog.at_level(logging.WARNING, logger="ingestion.archive"):
        periodic(run, every_s=5.0, stop=stop, name="influx")
    assert stop.waits[:5] == [1.0, 2.0, 4.0, 5.0, 5.0]  # doubling, capped at the period
    assert all(4.0 < w <= 5.0 for w in stop.waits[5:])  # back to the period (minus the run's own time)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "ConnectionError: refused" in failures[0].getMessage()
    assert sum("back, archived" in r.getMessage() for r in caplog.records) == 1
