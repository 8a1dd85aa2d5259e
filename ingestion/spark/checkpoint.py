"""Checks of a checkpoint directory before the job starts from it (job.run, `check-checkpoint`).

Spark resumes from its checkpoint without asking; a truncated or corrupt file there makes it fail deep inside the
first micro-batch, or worse, start over. These checks read what Spark reads to resume and say which file is
damaged and what to do. Remote checkpoints (hdfs://, s3a://) are left to Spark's own checks.
"""

from __future__ import annotations

import json
from pathlib import Path


class CheckpointError(RuntimeError):
    """The checkpoint directory is damaged: the job must not start from it."""


def _batch_files(directory: Path) -> dict[int, Path]:
    files = {}
    if directory.is_dir():
        for entry in directory.iterdir():
            name = entry.name
            if name.startswith(".") or name.endswith(".crc") or name.endswith(".tmp"):
                continue
            stem = name[: -len(".compact")] if name.endswith(".compact") else name
            if not stem.isdigit():
                raise CheckpointError(f"unexpected file {entry} in the checkpoint's {directory.name}/ log")
            files[int(stem)] = entry
    return files


def _log_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read ({exc})") from None
    lines = text.split("\n")
    if not lines or not lines[0].startswith("v") or not lines[0][1:].isdigit():
        raise CheckpointError(f"{path} does not start with a log version line (truncated or overwritten)")
    return lines


def _json(path: Path, line: str, what: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({exc.msg}; truncated or corrupt)") from None


def check_checkpoint(checkpoint: str) -> dict:
    """Raise CheckpointError if the checkpoint cannot be resumed safely; returns a summary otherwise.

    Checks the files Spark reads to resume: `metadata` (query id), the offset log (every retained entry: version
    line, batch metadata with the watermark, one offset per source), the commit log (version line, JSON) and the
    file source's log; the last committed batch must be the last planned one or the one before it. A missing or
    empty directory is a fresh start. Remote checkpoints (hdfs://, s3a://) are left to Spark's own checks."""
    if "://" in checkpoint and not checkpoint.startswith("file://"):
        return {"checked": False, "reason": "remote checkpoint: not checked here"}
    root = Path(checkpoint.removeprefix("file://"))
    if not root.exists() or not any(root.iterdir()):
        return {"checked": True, "fresh": True}
    metadata = root / "metadata"
    if not metadata.exists():
        raise CheckpointError(f"{root} holds files but no 'metadata': not a checkpoint of this job, or damaged")
    meta = _json(metadata, metadata.read_text(encoding="utf-8", errors="replace").split("\n")[0], "metadata")
    if not isinstance(meta, dict) or "id" not in meta:
        raise CheckpointError(f"{metadata} has no query id")
    offsets = _batch_files(root / "offsets")
    commits = _batch_files(root / "commits")
    for _, path in sorted(offsets.items()):
        lines = [line for line in _log_lines(path)[1:] if line]
        if not lines:
            raise CheckpointError(f"{path}: offset log entry without batch metadata (truncated)")
        info = _json(path, lines[0], "batch metadata")
        if not isinstance(info, dict) or "batchWatermarkMs" not in info:
            raise CheckpointError(f"{path}: batch metadata without a watermark")
        if len(lines) < 2:
            raise CheckpointError(f"{path}: offset log entry without source offsets (truncated)")
        for line in lines[1:]:
            if line != "-":
                _json(path, line, "a source offset")
    for _, path in sorted(commits.items()):
        lines = [line for line in _log_lines(path)[1:] if line]
        if not lines:
            raise CheckpointError(f"{path}: commit log entry is truncated")
        _json(path, lines[0], "commit metadata")
    orphans = sorted(set(commits) - set(offsets))
    if orphans:  # Spark purges both logs together: a commit without its offsets entry means a lost file
        raise CheckpointError(f"{root}: batch {orphans[0]} is committed but offsets/{orphans[0]} is missing")
    last_offset = max(offsets) if offsets else None
    last_commit = max(commits) if commits else None
    if last_commit is not None and (last_offset is None or last_commit > last_offset):
        raise CheckpointError(f"{root}: batch {last_commit} is committed but was never planned (offsets/ damaged)")
    if last_offset is not None and last_commit is not None and last_commit < last_offset - 1:
        raise CheckpointError(
            f"{root}: batches {last_commit + 1}..{last_offset} planned but only one may be in flight (commits/ damaged)"
        )
    if last_offset is not None:
        expected = set(range(min(offsets), last_offset + 1))
        if set(offsets) != expected:
            raise CheckpointError(f"{root}: gap in offsets/ ({sorted(expected - set(offsets))[:5]} missing)")
    sources = root / "sources"
    if sources.is_dir():
        for source_dir in sources.iterdir():
            if not source_dir.is_dir():
                continue
            for _, path in sorted(_batch_files(source_dir).items()):
                for line in _log_lines(path)[1:]:
                    if line:
                        _json(path, line, "a source log line")
    return {
        "checked": True,
        "fresh": False,
        "query_id": meta["id"],
        "last_planned": last_offset,
        "last_committed": last_commit,
    }


def damaged_message(checkpoint: str, error: Exception) -> str:
    return (
        f"error: the checkpoint {checkpoint} is damaged, the job will not start from it.\n"
        f"  {error}\n"
        "  Restore the directory from a backup, or start over with a new --checkpoint directory: a new checkpoint "
        "reprocesses the source from the beginning (files) or from --starting-offsets (Kafka); the sink's "
        "writes are idempotent, so the database gets no duplicates, but windows are rebuilt only from what the "
        "source still holds."
    )
