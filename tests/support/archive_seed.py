"""Known data for the archive tests: simulated history written through the real Writer (raw rows, latest, windows),
plus rejections quarantined through the same commit path."""

from __future__ import annotations

import time

from ingestion.readings import Rejection, frame_from_readings
from ingestion.simulator import Simulator
from ingestion.writer import Batch, Writer


def seed_history(db_url: str, *, hours: float, end: float | None = None, step_s: float = 60.0, seed: int = 5) -> int:
    """Write `hours` of history ending at `end` (default now - 2 min); returns the readings stored."""
    end = end if end is not None else time.time() - 120
    stored = 0
    with Writer(db_url, processor="seed") as writer:
        for chunk in Simulator(seed=seed).history(end - hours * 3600, end, step_s=step_s):
            stored += writer.commit(Batch(chunk, [], len(chunk), "seed")).stored
    return stored


def seed_rejections(db_url: str, payloads: list[tuple[str, str]]) -> None:
    """Quarantine (payload, reason) rejections, one batch."""
    now = time.time()
    rejections = [Rejection(reason, f"test {i}", payload, "test", now) for i, (payload, reason) in enumerate(payloads)]
    frame = frame_from_readings([])
    with Writer(db_url, processor="seed") as writer:
        writer.commit(Batch(frame, rejections, len(rejections), "test"))
