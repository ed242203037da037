"""What a run executes and the environment it gets (DESIGN §4). Pure: values in, argv/env out."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GIT_REDIRECTIONS",
    "PLACEHOLDERS",
    "CommandSpec",
    "RunContext",
    "build_environment",
    "render_argv",
    "unknown_placeholders",
]

# The `{name}` tokens a command may use; each names a RunContext field (DESIGN §4).
PLACEHOLDERS = ("run_id", "slug", "workspace", "artifacts_dir", "batch_id")

# `{name}` is a placeholder; `{{name}}` stands for a literal `{name}` (what a command such as
# `awk '{print}'` or `jq '{name}'` needs); brace pairs with other content are left alone.
_TOKEN = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|(\$?)\{([A-Za-z_]\w*)\}")

# Inherited git variables would point every run's git at the caller's repository or index.
GIT_REDIRECTIONS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """Either a shell string run by `bash -c` or an argv list run as is."""

    shell: str | None = None
    argv: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.shell is None) == (not self.argv):
            raise ValueError("give exactly one of a shell command or an argv")

    def describe(self) -> str:
        """The command as a person would type it."""
        return self.shell if self.shell is not None else shlex.join(self.argv)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """Everything about one attempt that its command may see."""

    run_id: str
    slug: str
    batch_id: str
    attempt: int
    workspace: Path
    artifacts_dir: Path
    runs_dir: Path
    base_sha: str
    database_url: str
    set_database_url: bool = False  # also as DATABASE_URL (autopack-supervisor, as the seed did)

    def placeholder_values(self) -> dict[str, str]:
        """Values of the `{name}` placeholders (PLACEHOLDERS), as text."""
        return {name: str(getattr(self, name)) for name in PLACEHOLDERS}


def unknown_placeholders(spec: CommandSpec) -> list[str]:
    """`{name}` tokens of the command that are no placeholder (`${NAME}` is the shell's, not ours)."""
    texts = [spec.shell] if spec.shell is not None else list(spec.argv)
    found = (match for text in texts for match in _TOKEN.finditer(text))
    names = {match.group(3) for match in found if match.group(3) and not match.group(2)}
    return sorted(names - set(PLACEHOLDERS))


def _substitute(text: str, values: Mapping[str, str], *, quote: bool) -> str:
    # Only the documented tokens are replaced, so `${HOME}` or `{a,b}` in a command stay untouched.
    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        value = values.get(match.group(3))
        if value is None:
            return match.group(0)
        return match.group(2) + (shlex.quote(value) if quote else value)

    return _TOKEN.sub(replace, text)


def render_argv(spec: CommandSpec, context: RunContext) -> list[str]:
    """The argv to execute: placeholders shell-quoted in a shell string, verbatim in an argv."""
    values = context.placeholder_values()
    if spec.shell is not None:
        return ["bash", "-c", _substitute(spec.shell, values, quote=True)]
    return [_substitute(arg, values, quote=False) for arg in spec.argv]


def build_environment(base: Mapping[str, str], context: RunContext) -> dict[str, str]:
    """The caller's environment minus git's redirections, plus the run's variables."""
    env = {key: value for key, value in base.items() if key not in GIT_REDIRECTIONS}
    env.update(
        PARALLEL_RUNS_RUN_ID=context.run_id,
        PARALLEL_RUNS_SLUG=context.slug,
        PARALLEL_RUNS_BATCH_ID=context.batch_id,
        PARALLEL_RUNS_ATTEMPT=str(context.attempt),
        PARALLEL_RUNS_WORKSPACE=str(context.workspace),
        PARALLEL_RUNS_ARTIFACTS_DIR=str(context.artifacts_dir),
        PARALLEL_RUNS_BASE_SHA=context.base_sha,
        AUTONOMOUS_RUNS_DIR=str(context.runs_dir),
        PARALLEL_RUNS_DATABASE_URL=context.database_url,
        PYTHONUTF8="1",
    )
    if context.set_database_url:  # else the user's own DATABASE_URL reaches the run unchanged
        env["DATABASE_URL"] = context.database_url
    return env
