"""The runs' task titles (`--tasks`), for the reports: read from what a location keeps of the tasks.

The shared store keeps each batch's tasks with its definition; a runs dir keeps each run's task as
`<slug>/task.json` (docs/CONTRACTS.md §3), read through the artifacts like any other file.
"""

from __future__ import annotations

from collections.abc import Iterable

from parallel_runs.core.model import Attempt
from parallel_runs.core.tasks import TASK_FILE_NAME, task_title
from parallel_runs.errors import NotFoundError
from parallel_runs.store.records import Records

__all__ = ["run_titles"]


def _from_definitions(records: Records, attempts: list[Attempt]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for batch_id in sorted({attempt.batch_id for attempt in attempts}):
        definition = records.batch(batch_id)
        if definition is None:
            continue
        for run_id, task in zip(definition.run_ids, definition.tasks, strict=False):
            if (title := task_title(task)) is not None:
                titles[run_id] = title
    return titles


def _from_task_file(records: Records, attempt: Attempt) -> str | None:
    try:
        listed = records.artifacts(attempt.run_id, batch_id=attempt.batch_id, attempt=attempt.attempt)
    except NotFoundError:
        return None
    info = next((info for info in listed if info.name == TASK_FILE_NAME), None)
    if info is None:
        return None
    with records.open_artifact(info) as stream:
        try:
            return task_title(stream.read().decode("utf-8"))
        except ValueError:  # a task file the run itself broke: the run id names it
            return None


def run_titles(records: Records, attempts: Iterable[Attempt]) -> dict[str, str]:
    """Each run's task title by run id, for the runs of `attempts` that have one."""
    attempts = list(attempts)
    if records.keeps_definitions:
        return _from_definitions(records, attempts)
    latest: dict[str, Attempt] = {}
    for attempt in attempts:
        if attempt.run_id not in latest or attempt.attempt > latest[attempt.run_id].attempt:
            latest[attempt.run_id] = attempt
    found = {run_id: _from_task_file(records, attempt) for run_id, attempt in latest.items()}
    return {run_id: title for run_id, title in found.items() if title is not None}
