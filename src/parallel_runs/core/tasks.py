"""Tasks: a batch's runs read from a JSON Lines file, one object per run (`--tasks FILE`). Pure.

Each line is a JSON object with an `id` (the run id) and any other fields (`title`, `prompt`,
`issue`, ...). The run gets its task as a file and as variables (docs/CONTRACTS.md §4); its `title`
names the run in reports and its pull request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from parallel_runs.core.ids import check_unique_slugs, validate_run_id
from parallel_runs.errors import ConfigError

__all__ = ["TASK_ENV", "TASK_FILE_NAME", "Tasks", "parse_tasks", "task_environment", "task_title"]

TASK_ENV = "PARALLEL_RUNS_TASK"  # the path of the file holding the run's task (its JSON)
TASK_FILE_NAME = "task.json"  # in the run's artifacts dir, <runs dir>/<slug>/task.json
# A tasks file read: the run ids, and each one's task (its JSON text) in the same order.
Tasks = tuple[tuple[str, ...], tuple[str, ...]]
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_TITLE_CHARS = 200


def _task_id(task: Mapping[str, object], where: str) -> str:
    raw = task.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ConfigError(f"{where}: a task needs an `id`, a string (or an integer)")
    run_id = str(raw)
    try:
        validate_run_id(run_id)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return run_id


def parse_tasks(text: str, *, source: str) -> Tasks:
    """The run ids and each one's task (its JSON, compact) from a JSON Lines text, in file order.

    Blank lines are skipped. A line that is not a JSON object with a valid `id`, or an id given twice,
    is a ConfigError (exit 2) naming `source` and the line's number.
    """
    ids: list[str] = []
    tasks: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            task = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        if not isinstance(task, dict):
            raise ConfigError(f"{where}: a task is a JSON object, one per line")
        run_id = _task_id(task, where)
        if run_id in seen:
            raise ConfigError(f"{where}: task id {run_id!r} is already used on line {seen[run_id]}")
        seen[run_id] = number
        ids.append(run_id)
        tasks.append(json.dumps(task, ensure_ascii=False, separators=(",", ":")))
    if not ids:
        raise ConfigError(f"{source}: no tasks (one JSON object per line, each with an `id`)")
    check_unique_slugs(ids)
    return tuple(ids), tuple(tasks)


def _fields(task_json: str) -> dict[str, object]:
    task = json.loads(task_json)
    return task if isinstance(task, dict) else {}


def task_environment(task_json: str, task_file: str) -> dict[str, str]:
    """PARALLEL_RUNS_TASK (the file) and PARALLEL_RUNS_TASK_<FIELD> for each top-level string or number
    field, the name upper-cased with every other character than A-Z and 0-9 made `_`."""
    env = {TASK_ENV: task_file}
    for name, value in _fields(task_json).items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if "\0" not in text:  # an environment variable cannot hold a NUL
            env[f"{TASK_ENV}_{_NOT_ALNUM.sub('_', name).upper()}"] = text
    return env


def task_title(task_json: str) -> str | None:
    """The task's `title` (one line, at most 200 characters), or None."""
    title = _fields(task_json).get("title")
    if not isinstance(title, str) or not title.strip():
        return None
    flat = " ".join(title.split())
    return flat if len(flat) <= _TITLE_CHARS else flat[: _TITLE_CHARS - 1] + "\u2026"
