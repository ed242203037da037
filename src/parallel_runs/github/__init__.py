"""GitHub Actions I/O: workflow commands (groups, masks, annotations), the runner's output and
summary files, the run's context, and the REST calls of the report (PyGithub, in `api`).

`api` is imported on its own (`parallel_runs.github.api`): PyGithub is slow to import.
"""

from __future__ import annotations

from parallel_runs.github.commands import (
    MAX_ANNOTATIONS,
    Annotations,
    add_mask,
    annotation,
    end_group,
    escape_data,
    escape_property,
    group,
    stop_commands,
)
from parallel_runs.github.context import GithubContext
from parallel_runs.github.files import append_summary, format_outputs, write_outputs

__all__ = [
    "MAX_ANNOTATIONS",
    "Annotations",
    "GithubContext",
    "add_mask",
    "annotation",
    "append_summary",
    "end_group",
    "escape_data",
    "escape_property",
    "format_outputs",
    "group",
    "stop_commands",
    "write_outputs",
]
