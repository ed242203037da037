"""Reading `--tasks FILE` (a batch's runs as JSON Lines, core/tasks.py) for `run` and `plan`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from parallel_runs.config.common import flag_list, picker, read_bounded_text
from parallel_runs.core.tasks import Tasks, parse_tasks
from parallel_runs.errors import ConfigError

__all__ = ["MAX_TASKS_FILE_BYTES", "read_tasks", "tasks_of"]

MAX_TASKS_FILE_BYTES = 64 * 2**20  # prompts are long; a batch still takes at most 100,000 runs


def _read(raw: str, cwd: Path) -> str:
    too_large = f"--tasks {raw} is larger than {MAX_TASKS_FILE_BYTES // 2**20} MiB"
    try:
        return read_bounded_text(raw, cwd, limit=MAX_TASKS_FILE_BYTES, too_large=too_large)
    except OSError as exc:
        raise ConfigError(f"cannot read --tasks {raw}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read --tasks {raw}: not UTF-8 ({exc})") from None


def read_tasks(flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path) -> Tasks | None:
    """The --tasks file's run ids and tasks, or None without --tasks. The file names the runs, so it
    stands instead of --run-ids and --run-ids-file (both given: exit 2)."""
    raw = picker(flags, environ)("tasks")
    if not raw:
        return None
    if flag_list(flags, "run_ids", environ) or flag_list(flags, "run_ids_file", environ):
        raise ConfigError("--tasks names the runs: give it instead of --run-ids and --run-ids-file")
    return parse_tasks(_read(raw, cwd), source=f"--tasks {raw}")


def tasks_of(run_ids: tuple[str, ...], tasks: Tasks | None) -> tuple[str, ...]:
    """The tasks of `run_ids` (the file's, or a shard of them), in their order; () without --tasks."""
    if tasks is None:
        return ()
    by_id = dict(zip(*tasks, strict=True))
    return tuple(by_id[run_id] for run_id in run_ids)
