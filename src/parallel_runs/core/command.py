"""What a run executes and the environment it gets (CONTRACTS §4). Pure: values in, argv/env out."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.defaults import PLACEHOLDERS
from parallel_runs.core.urls import without_password

__all__ = [
    "DATABASE_URL_ENV",
    "GIT_REDIRECTIONS",
    "PLACEHOLDERS",
    "WITHHELD",
    "WITHHELD_PREFIXES",
    "CommandSpec",
    "RunContext",
    "build_environment",
    "inherited_environment",
    "is_withheld",
    "render_argv",
    "unknown_placeholders",
]


# `{name}` is a placeholder; `{{name}}` stands for a literal `{name}` (what a command such as
# `awk '{print}'` or `jq '{name}'` needs); brace pairs with other content are left alone.
_TOKEN = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|(\$?)\{([A-Za-z_]\w*)\}")

# Inherited git variables would point every run's git at the caller's repository or index.
GIT_REDIRECTIONS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
# What the supervisor holds that a run must not get unless the user passes it by name (--pass-env):
# the runner's control files (a run writing to them would set the step's outputs, environment or
# PATH), and tokens.
WITHHELD = (
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_STATE",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "PARALLEL_RUNS_GITHUB_TOKEN",
)
# The runner's own services (ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN/URL, ACTIONS_CACHE_URL...).
WITHHELD_PREFIXES = ("ACTIONS_",)
# The variable that carries the store's URL; the run gets it without its password unless passed by name.
DATABASE_URL_ENV = "PARALLEL_RUNS_DATABASE_URL"


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
    pass_env: frozenset[str] = frozenset()  # withheld variables the user asked to pass (--pass-env)

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


def is_withheld(name: str) -> bool:
    """Whether a run gets the variable only when the user passes it by name."""
    return name in WITHHELD or name.startswith(WITHHELD_PREFIXES)


def inherited_environment(base: Mapping[str, str], pass_env: frozenset[str] = frozenset()) -> dict[str, str]:
    """The caller's environment minus git's redirections and what is withheld (unless passed by name)."""
    return {
        key: value
        for key, value in base.items()
        if key not in GIT_REDIRECTIONS and (key in pass_env or not is_withheld(key))
    }


def build_environment(base: Mapping[str, str], context: RunContext) -> dict[str, str]:
    """The inherited environment plus the run's variables; the store's URL without its password."""
    env = inherited_environment(base, context.pass_env)
    passed = DATABASE_URL_ENV in context.pass_env
    env.update(
        PARALLEL_RUNS_RUN_ID=context.run_id,
        PARALLEL_RUNS_SLUG=context.slug,
        PARALLEL_RUNS_BATCH_ID=context.batch_id,
        PARALLEL_RUNS_ATTEMPT=str(context.attempt),
        PARALLEL_RUNS_WORKSPACE=str(context.workspace),
        PARALLEL_RUNS_ARTIFACTS_DIR=str(context.artifacts_dir),
        PARALLEL_RUNS_BASE_SHA=context.base_sha,
        AUTONOMOUS_RUNS_DIR=str(context.runs_dir),
        PARALLEL_RUNS_DATABASE_URL=context.database_url if passed else without_password(context.database_url),
        PYTHONUTF8="1",
    )
    if context.set_database_url:  # else the user's own DATABASE_URL reaches the run unchanged
        env["DATABASE_URL"] = context.database_url
    return env
