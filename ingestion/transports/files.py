"""JSON-lines landing directory: the file source of the Spark job (and a replayable archive).

Each batch becomes one file, written under a temporary name and renamed into place, so a reader never sees a
half-written file (Spark's file source requires it)."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path


class FilesSink:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._tmp = self.directory / "_incoming"
        self._tmp.mkdir(exist_ok=True)
        self._seq = itertools.count()

    def write_batch(self, messages: list[bytes]) -> Path | None:
        if not messages:
            return None
        name = f"batch-{int(time.time() * 1000):013d}-{os.getpid()}-{next(self._seq):06d}.jsonl"
        tmp = self._tmp / name
        with open(tmp, "wb") as handle:
            for message in messages:
                handle.write(message.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n")
        final = self.directory / name
        os.replace(tmp, final)
        return final
