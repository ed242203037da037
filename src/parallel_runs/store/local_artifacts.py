"""A run's artifacts as this machine keeps them: the files of `<runs dir>/<slug>/`, its latest attempt's.

The per-run store (`<slug>.db`) says which attempts there were; the files on disk are always those of
the latest one (run.log holds every attempt, each part under its header line).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from parallel_runs.core.ids import slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt
from parallel_runs.errors import ConfigError, NotFoundError
from parallel_runs.store.artifacts import ArtifactInfo, scan_directory

__all__ = ["choose_attempt", "list_local_artifacts", "local_paths"]

_CHUNK = 1024 * 1024
_STORE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def local_paths(runs_dir: Path, run_id: str) -> RunPaths | None:
    """The run's paths under `runs_dir`; None when nothing of the run is there."""
    paths = RunPaths(runs_dir, slugify(run_id))
    return paths if paths.artifacts.is_dir() else None


def choose_attempt(
    attempts: list[Attempt], *, run_id: str, batch_id: str | None, attempt: int | None
) -> Attempt | None:
    """The attempt asked for (default: the latest, within `batch_id` if given); NotFound as ConfigError."""
    candidates = [a for a in attempts if batch_id is None or a.batch_id == batch_id]
    if attempt is not None:
        candidates = [a for a in candidates if a.attempt == attempt]
    if candidates:
        return max(candidates, key=lambda a: a.attempt)
    if not attempts:
        return None
    numbers = ", ".join(f"{a.attempt} (batch {a.batch_id})" for a in attempts)
    asked = [f"attempt {attempt}" if attempt is not None else "attempt"]
    asked += [f"in batch {batch_id}"] if batch_id else []
    raise NotFoundError(f"run {run_id!r} has no {' '.join(asked)}; its attempts: {numbers}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def list_local_artifacts(paths: RunPaths, chosen: Attempt, *, latest: Attempt) -> list[ArtifactInfo]:
    """The files of the run's artifacts dir (not its store), which are those of its `latest` attempt."""
    if chosen.attempt != latest.attempt:
        raise ConfigError(
            f"only the latest attempt's files (attempt {latest.attempt}) are kept in {paths.artifacts}; "
            f"`parallel-runs logs {chosen.run_id} --attempt {chosen.attempt}` shows that attempt's output"
        )
    store_files = {f"{paths.database.name}{suffix}" for suffix in _STORE_SUFFIXES}
    return [
        ArtifactInfo(
            run_id=chosen.run_id,
            batch_id=chosen.batch_id,
            attempt=chosen.attempt,
            name=name,
            size=path.stat().st_size,
            sha256=_sha256(path),
            skipped=False,
        )
        for name, path in scan_directory(paths.artifacts)
        if name not in store_files and not name.endswith(".partial")
    ]
