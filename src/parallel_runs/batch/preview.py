"""`run --dry-run`: which runs would start, be skipped or redone, and why. Reads; changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from parallel_runs import git
from parallel_runs.config import WorkerSettings
from parallel_runs.core.batch import BatchDefinition, BatchRequest, skip_reason
from parallel_runs.core.ids import slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.errors import StoreError
from parallel_runs.locks import run_locks
from parallel_runs.store import RunStore, SharedStore

__all__ = ["Preview", "preview"]


@dataclass(frozen=True, slots=True)
class Preview:
    """What `run` would do with one run id: `run`, `skip`, `redo`, `retry` or `held`, and why."""

    run_id: str
    verdict: str
    reason: str


def _latest_local(machine: WorkerSettings, run_id: str) -> Attempt | None:
    path = machine.shared_sqlite or RunPaths(machine.runs_dir, slugify(run_id)).database
    if not path.is_file():
        return None
    try:
        with RunStore.open(path, create=False) as store:
            return store.latest_attempt(run_id)
    except StoreError:
        return None


def _verdict(latest: Attempt | None, definition: BatchDefinition) -> tuple[str, str]:
    if reason := skip_reason(latest, definition):
        return "skip", reason
    if latest is None:
        return "run", "never ran"
    if latest.outcome is Outcome.SUCCEEDED:
        return "redo", f"attempt {latest.attempt} succeeded (--redo)"
    return "retry", f"attempt {latest.attempt} ended {latest.outcome}"


def preview(request: BatchRequest, machine: WorkerSettings) -> list[Preview]:
    """The verdict on every run id of the batch, as `run` would reach it now."""
    # A bad ref is a usage error here too.
    definition = request.definition(base_sha=git.resolve_commit(machine.repo, request.base_ref))
    shared: dict[str, Attempt] = {}
    if machine.database_url is not None:
        with SharedStore.connect(machine.database_url) as store:
            shared = {a.run_id: a for run_id in request.run_ids for a in store.run_attempts(run_id)[-1:]}
    found = []
    for run_id in request.run_ids:
        holder = run_locks(RunPaths(machine.runs_dir, slugify(run_id)), run_id=run_id)[1].holder()
        if holder is not None:
            found.append(Preview(run_id, "held", f"a live process holds it ({holder})"))
            continue
        latest = shared.get(run_id) if machine.database_url else _latest_local(machine, run_id)
        found.append(Preview(run_id, *_verdict(latest, definition)))
    return found
