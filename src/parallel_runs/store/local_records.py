"""The read side of a runs dir: its per-run SQLite files, its run dirs' files, its refused batches.

Only `<runs dir>/<slug>/<slug>.db` holds a run's records (worktrees, locks and leases never do);
the files of `<runs dir>/<slug>/` are those of the run's latest attempt, and its run.log holds every
attempt, each part under its header line (`local_artifacts.py`).
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from parallel_runs.core.batch import BatchDefinition, BatchSummary
from parallel_runs.core.layout import git_state_dir, refusal_path
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.runs_query import RunsPage, RunsQuery, page_of
from parallel_runs.errors import SHARED_STORE_HINT, NotFoundError, StoreError, not_found_here
from parallel_runs.log_reader import attempt_is_over
from parallel_runs.store.artifacts import ArtifactInfo
from parallel_runs.store.closing import Closing
from parallel_runs.store.local_artifacts import choose_attempt, list_local_artifacts, local_paths
from parallel_runs.store.local_index import IndexReader, StoreKey, store_key
from parallel_runs.store.records import RunEvent, RunLog

if TYPE_CHECKING:
    from parallel_runs.report.rows import RunRow
from parallel_runs.store.sqlite import RunStore

__all__ = ["LocalRecords", "refused_batches", "summarize_batches"]

log = logging.getLogger(__name__)
SETTLED_NS = 2_000_000_000  # a store whose mtime is this much older than a check of it is as checked


class LocalRecords(Closing):
    """`Records` of a runs dir (or of one SQLite file its runs were recorded in); see `records.py`."""

    keeps_definitions = False  # a private queue lives in its process: no definition is written down
    hint_when_empty = SHARED_STORE_HINT

    def __init__(self, runs_dir: Path, *, store_file: Path | None = None) -> None:
        self.runs_dir = runs_dir
        self.store_file = store_file
        self.where = str(store_file or runs_dir)
        # Each store's attempts as last read, by its key, and when the key was checked: a long-lived
        # reader (the dashboard) reads again only the stores that changed, not 10,000 at every
        # refresh; and the index spares the first read of each store that was indexed as it is.
        self._seen: dict[str, tuple[StoreKey, int, list[Attempt]]] = {}
        self._seen_lock = threading.Lock()  # one scan at a time: a dashboard's threads share it
        self._index = IndexReader(runs_dir)
        self._listed: list[str] = []  # the stores the last scan found
        self._generation = 0  # counts the scans that found a store changed, new or gone
        self._rows: dict[str, tuple[int, list[RunRow]]] = {}  # batch id: (generation, its rows)
        self._summarized: tuple[int, list[BatchSummary]] = (-1, [])

    def _store_files(self) -> list[str]:
        """Where the per-run stores may be (`<slug>/<slug>.db`), as text: a long-lived reader lists
        10,000 of them at every refresh, and pathlib would cost more than the listing."""
        if self.store_file is not None:
            return [str(self.store_file)]
        try:
            with os.scandir(self.runs_dir) as entries:
                found = [
                    f"{entry.path}/{entry.name}.db"
                    for entry in entries
                    if not entry.name.startswith(".") and entry.is_dir()
                ]
        except FileNotFoundError:
            return []  # nothing ran here yet
        except OSError as exc:
            log.warning("cannot list runs dir %s: %s", self.runs_dir, exc)
            return []
        return sorted(found)

    def _scan(self) -> list[list[Attempt]]:
        """Each store's attempts, read again only where a store changed (with `_seen_lock` held)."""
        if self.store_file is None:
            self._index.refresh()
        listed = self._store_files()
        if listed != self._listed:
            self._listed, self._generation = listed, self._generation + 1
        return [self._read_all(path) for path in listed]

    def _read_all(self, path: str) -> list[Attempt]:
        """A store's attempts: as read before or as indexed if it has not changed since, else read."""
        seen = self._seen.get(path)
        if seen is not None and _unchanged_since(path, seen[0], seen[1]):
            return seen[2]
        checked = time.time_ns()
        key = store_key(path)  # before reading: a write meanwhile changes the key, never the answer
        if key is None:
            return []  # a dir without a store (workspaces, ...), or removed meanwhile
        if seen is not None and seen[0] == key:
            attempts = seen[2]
        else:
            attempts = self._index.attempts(path, key) or self._read(Path(path))
            self._generation += 1
        self._seen[path] = (key, checked, attempts)
        return attempts

    def _read(self, path: Path, run_id: str | None = None) -> list[Attempt]:
        """A store's attempts; an unreadable one is logged and read as empty."""
        try:
            with RunStore.open(path, create=False) as store:
                return store.attempts(run_id)
        except (StoreError, ValueError) as exc:  # ValueError: a status this version does not know
            log.warning("skipping unreadable store %s: %s", path, exc)
            return []

    def attempts(self, batch_id: str | None = None) -> list[Attempt]:
        """Every attempt recorded here (in `batch_id`, if given), by run id then number."""
        with self._seen_lock:
            stores = self._scan()
        chosen = [a for found in stores for a in found if batch_id is None or a.batch_id == batch_id]
        return sorted(chosen, key=lambda a: (a.run_id, a.attempt))

    def runs_page(self, batch_id: str, query: RunsQuery) -> RunsPage:
        """One page of the batch's runs, paged in memory; its rows built again only after a change."""
        from parallel_runs.report.rows import build_rows  # noqa: PLC0415 - the report's renderers load with it

        with self._seen_lock:
            stores = self._scan()
            kept = self._rows.get(batch_id)
            if kept is None or kept[0] != self._generation:
                chosen = (a for found in stores for a in found if a.batch_id == batch_id)
                kept = self._rows[batch_id] = (self._generation, build_rows(chosen))
        return page_of(kept[1], query)

    def run_attempts(self, run_id: str) -> list[Attempt]:
        """The run's attempts, by number (its own store, or the one file every run was recorded in)."""
        if self.store_file is not None:
            return self._read(self.store_file, run_id)
        paths = local_paths(self.runs_dir, run_id)
        return self._read(paths.database, run_id) if paths and paths.database.is_file() else []

    def is_worked_here(self) -> bool:
        """True while a `run` works this runs dir: its record in `.git-state/` is locked while it lives."""
        state_dir = git_state_dir(self.runs_dir)
        for path in state_dir.glob("*.json") if state_dir.is_dir() else ():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # its batch ended meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)  # closing releases a lock taken here
        return False

    def batches(self) -> list[BatchSummary]:
        """Each batch that ran here, and each refused here (unless it ran later: its runs tell)."""
        with self._seen_lock:
            stores = self._scan()
            if self._summarized[0] != self._generation:  # as for rows: summarized again after a change
                self._summarized = (self._generation, summarize_batches(a for found in stores for a in found))
            ran = self._summarized[1]
        if self.store_file is not None:
            return ran
        seen = {summary.batch_id for summary in ran}
        refused = [summary for summary in refused_batches(self.runs_dir) if summary.batch_id not in seen]
        return sorted([*ran, *refused], key=lambda summary: (summary.first is None, summary.first))

    def batch(self, batch_id: str) -> BatchDefinition | None:
        """None: a runs dir keeps no batch definition."""
        return None

    def run_log(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> RunLog:
        """The run's live run.log; with `batch_id`, the attempt is looked up in the run's store."""
        paths = local_paths(self.runs_dir, run_id)
        if paths is None or not paths.run_log.is_file():
            raise not_found_here(f"no such run {run_id!r}", self.runs_dir)
        if batch_id is not None:
            found = self.run_attempts(run_id)
            chosen = choose_attempt(found, run_id=run_id, batch_id=batch_id, attempt=attempt)
            if chosen is None:
                raise NotFoundError(f"run {run_id!r} has no record of its attempts in {paths.database}")
            attempt = chosen.attempt
        return RunLog(paths.run_log.open("rb"), attempt, functools.partial(attempt_is_over, paths))

    def artifacts(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> list[ArtifactInfo]:
        """The files of the run's dir, which are its latest attempt's (ConfigError for an earlier one)."""
        paths = local_paths(self.runs_dir, run_id)
        found = self.run_attempts(run_id) if paths else []
        chosen = choose_attempt(found, run_id=run_id, batch_id=batch_id, attempt=attempt)
        if paths is None or chosen is None:
            raise not_found_here(f"no such run {run_id!r}", self.runs_dir)
        return list_local_artifacts(paths, chosen, latest=found[-1])

    def _file(self, info: ArtifactInfo) -> Path:
        """The listed file in the run's dir (`artifacts` listed it: its name stays inside)."""
        paths = local_paths(self.runs_dir, info.run_id)
        if paths is None:
            raise not_found_here(f"no such run {info.run_id!r}", self.runs_dir)
        return paths.artifacts / info.name

    def copy_artifact(self, info: ArtifactInfo, destination: Path) -> None:
        """Copy the file beside `destination`, then rename it into place."""
        partial = destination.with_name(f".{destination.name}.partial")
        try:
            shutil.copyfile(self._file(info), partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(destination)

    def open_artifact(self, info: ArtifactInfo) -> BinaryIO:
        """The file in the run's dir."""
        return self._file(info).open("rb")

    def events(self, run_id: str) -> list[RunEvent]:
        """None: only the shared store's leases make events (a private queue's never move)."""
        return []

    def not_found(self, what: str) -> NotFoundError:
        """`what` under the runs dir (or store file), and where else runs may be recorded."""
        return not_found_here(what, self.where)

    def close(self) -> None:
        """Nothing to release: each read opened and closed its file."""


def _unchanged_since(path: str, key: StoreKey, checked: int) -> bool:
    """True when one stat shows the store still has `key`, as checked at `checked` (ns): a store last
    written well before that check (SETTLED_NS, more than the file clock's lag) can change only with
    a later mtime. Opening the file to read its change counter costs 10,000 opens a refresh."""
    try:
        found = os.stat(path)
    except OSError:
        return False
    same = (found.st_mtime_ns, found.st_size, found.st_ino) == key[:3]
    return same and found.st_mtime_ns < checked - SETTLED_NS


def summarize_batches(records: Iterable[Attempt]) -> list[BatchSummary]:
    """Each batch's runs counted by the outcome of their latest attempt in it (in the order outcomes
    are declared), oldest batch first."""
    by_batch: dict[str, list[Attempt]] = {}
    for record in records:
        by_batch.setdefault(record.batch_id, []).append(record)
    summaries = []
    for batch_id, attempts in by_batch.items():
        latest: dict[str, Attempt] = {}
        for attempt in sorted(attempts, key=lambda a: a.attempt):
            latest[attempt.run_id] = attempt
        outcomes = [attempt.outcome for attempt in latest.values()]
        summaries.append(
            BatchSummary(
                batch_id=batch_id,
                counts={o.value: outcomes.count(o) for o in Outcome if o in outcomes},
                first=min(a.started_at for a in attempts),
                last=max(a.finished_at or a.started_at for a in attempts),
                hosts=tuple(sorted({a.host for a in attempts})),
            )
        )
    return sorted(summaries, key=lambda summary: (summary.first, summary.batch_id))


def refused_batches(runs_dir: Path) -> list[BatchSummary]:
    """The batches refused before any run started here (their baseline could not judge), oldest first."""
    found = []
    records = refusal_path(runs_dir, "-").parent
    for path in sorted(records.glob("*.json")) if records.is_dir() else ():
        try:
            found.append(BatchSummary.refusal(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record cut short: nothing to say about it
    return sorted(found, key=lambda summary: summary.first or datetime.min.replace(tzinfo=UTC))
