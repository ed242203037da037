"""The embedded default store: a batch queued in this process, each run recorded in its own SQLite file."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from parallel_runs.core.layout import RunPaths, branch_name
from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.store.closing import Closing
from parallel_runs.store.local_queue import LocalQueue
from parallel_runs.store.protocol import AttemptHistory, Claim, unexecuted_attempt
from parallel_runs.store.sqlite import RunStore

__all__ = ["LocalStore"]


class LocalStore(LocalQueue, Closing):
    """Per-run SQLite files `<runs dir>/<slug>/<slug>.db` (or one file for every run, one worker)."""

    def __init__(self, runs_dir: Path, *, shared_file: Path | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.shared_file = shared_file
        self._opened: set[Path] = set()
        # A run's store from its begin to its finish, its connection kept: one open of the file a run.
        # One a worker thread (its next begin closes one whose finish never came), by thread id.
        self._begun: dict[int, tuple[str, RunStore]] = {}
        self._begun_lock = threading.Lock()
        self._closed = False

    def _path(self, slug: str) -> Path:
        return self.shared_file or RunPaths(self.runs_dir, slug).database

    def _open(self, slug: str) -> RunStore:
        # A store this process opened (its header read, its schema upgraded) is not read again in a
        # transaction of its own, two per run: a file broken since fails its next operation instead.
        # Each run's own store is indexed for the runs dir's readers; one shared file needs no index.
        path, indexed_in = self._path(slug), None if self.shared_file else self.runs_dir
        if path in self._opened:
            return RunStore(path, indexed_in=indexed_in)
        store = RunStore.open(path, indexed_in=indexed_in)
        self._opened.add(path)
        return store

    def previous_attempt(self, claim: Claim) -> Attempt | None:
        """The run's latest recorded attempt (the claim has recorded none yet)."""
        if not self._path(claim.slug).exists():  # never recorded here: no file to make and read (1 ms a run)
            return None
        with self._open(claim.slug) as store:
            return store.latest_attempt(claim.run_id)

    def history(self, claim: Claim) -> AttemptHistory:
        """The run's SQLite store."""
        return self._open(claim.slug)

    def begin_attempt(self, claim: Claim, *, at_least: int, started_at: datetime, host: str) -> Claim:
        """Number the attempt after every recorded one (we hold the run's lock) and record it running."""
        # No file yet, no attempt to number after (the run's lock keeps other writers out): no read.
        recorded = self._path(claim.slug).exists()
        with contextlib.ExitStack() as on_error:
            store = on_error.enter_context(self._open(claim.slug))
            number = max(at_least, store.last_attempt_number(claim.run_id) + 1 if recorded else 1)
            store.begin_attempt(
                run_id=claim.run_id,
                slug=claim.slug,
                batch_id=claim.batch_id,
                attempt=number,
                base_sha=claim.base_sha,
                branch=branch_name(claim.slug),
                host=host,
                pid=os.getpid(),
                started_at=started_at,
            )
            on_error.pop_all()  # begun: the store stays open for the finish
        self._keep(claim.slug, store)
        return replace(claim, attempt=number)

    def _keep(self, slug: str, store: RunStore) -> None:
        """Keep a begun run's store for its finish: one a worker thread, so the one before it (an
        attempt whose finish never came) is closed; none once this store was closed."""
        with self._begun_lock:
            earlier = self._begun.pop(threading.get_ident(), None)
            kept = not self._closed
            if kept:
                self._begun[threading.get_ident()] = (slug, store)
        if earlier is not None:
            earlier[1].close()
        if not kept:
            store.close()

    def _kept(self, slug: str) -> RunStore | None:
        """The store this thread's begin of `slug` kept, while the file at its path is the same."""
        with self._begun_lock:
            kept = self._begun.get(threading.get_ident())
            if kept is None or kept[0] != slug:
                return None
            del self._begun[threading.get_ident()]
        if kept[1].resumed():
            return kept[1]
        kept[1].close()
        return None

    def finish_attempt(self, claim: Claim, attempt: Attempt) -> Path | None:
        """Write the attempt's outcome (through its begin's connection while the file is the same)."""
        with self._kept(claim.slug) or self._open(claim.slug) as store:
            store.finish_attempt(attempt)
        return None

    def close_unexecuted(self, claim: Claim, outcome: Outcome, reason: str) -> None:
        """Record a run the batch stopped before; a run held elsewhere belongs to its holder's records."""
        if outcome is Outcome.HELD:
            return
        with self._open(claim.slug) as store:
            store.finish_attempt(
                unexecuted_attempt(
                    claim,
                    number=store.last_attempt_number(claim.run_id) + 1,
                    outcome=outcome,
                    reason=reason,
                    at=self.now(),
                )
            )

    def skip(self, claim: Claim, reason: str) -> None:
        """Nothing to record: the run's latest attempt already says it succeeded."""

    def record_pull_request(self, attempt: Attempt, pull: PullRequest) -> None:
        """Record it in the run's SQLite file (or the one shared file)."""
        with self._open(attempt.slug) as store:
            store.record_pull_request(attempt, pull)

    def close(self) -> None:
        """Close the stores of attempts begun here that did not finish."""
        with self._begun_lock:
            begun, self._begun, self._closed = list(self._begun.values()), {}, True
        for _, store in begun:
            store.close()

    def database_url(self, claim: Claim) -> str:
        """The run's own SQLite file (or the one shared file)."""
        return f"sqlite:///{self._path(claim.slug)}"
