"""One frozen Settings per command, built from flags > environment > defaults, validated here.

The only library module that reads the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.ids import collect_run_ids
from parallel_runs.errors import ConfigError

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "ENV",
    "ReportSettings",
    "RunSettings",
    "default_batch_id",
    "resolve_runs_dir",
    "resolve_source_repo",
]

DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_RUNS_DIR_NAME = ".autonomous_runs"

# Flag name -> environment variable; --help prints these so users can find them.
ENV = {
    "run_ids": "PARALLEL_RUNS_RUN_IDS",
    "run_ids_file": "PARALLEL_RUNS_RUN_IDS_FILE",
    "workers": "PARALLEL_RUNS_WORKERS",
    "command": "PARALLEL_RUNS_COMMAND",
    "timeout": "PARALLEL_RUNS_TIMEOUT",
    "grace": "PARALLEL_RUNS_GRACE",
    "keep_worktrees": "PARALLEL_RUNS_KEEP_WORKTREES",
    "base_ref": "PARALLEL_RUNS_BASE_REF",
    "batch_id": "PARALLEL_RUNS_BATCH_ID",
    "runs_dir": "PARALLEL_RUNS_RUNS_DIR",
    "source_repo": "PARALLEL_RUNS_SOURCE_REPO",
    "format": "PARALLEL_RUNS_REPORT_FORMAT",
}
SEED_RUNS_DIR_ENV = "AUTONOMOUS_RUNS_DIR"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """Everything `parallel-runs run` needs, all paths absolute."""

    source_repo: Path
    runs_dir: Path
    run_ids: tuple[str, ...]
    command: CommandSpec
    workers: int
    timeout: float | None
    grace: float
    keep_worktrees: bool
    base_ref: str
    batch_id: str
    environ: Mapping[str, str]  # the caller's environment, passed on to runs


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """Everything `parallel-runs report` needs."""

    runs_dir: Path
    format: str
    batch_id: str | None


def _env(environ: Mapping[str, str], key: str) -> str | None:
    value = environ.get(ENV[key])
    return value if value else None


def _parse_bool(text: str, *, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={text!r} is not a boolean (use 1/0, true/false)")


def _parse_workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise ConfigError(f"--workers {text!r} is not a whole number") from None
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    return workers


def default_batch_id(environ: Mapping[str, str], now: datetime | None = None) -> str:
    """DESIGN §1: `gh-<run id>-<attempt>` in Actions, else a UTC timestamp plus 4 random hex."""
    run_id = environ.get("GITHUB_RUN_ID")
    if run_id:
        return f"gh-{run_id}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def resolve_source_repo(flag: str | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """The repository runs are made from: --source-repo, env, else the repo around cwd."""
    raw = flag or _env(environ, "source_repo")
    start = (cwd / raw) if raw else cwd
    if not start.exists():
        raise ConfigError(f"source repository {start} does not exist")
    return git.repo_root(start.resolve())


def resolve_runs_dir(flag: str | None, environ: Mapping[str, str], *, cwd: Path, repo: Path) -> Path:
    """--runs-dir, else PARALLEL_RUNS_RUNS_DIR / AUTONOMOUS_RUNS_DIR, else <repo>/.autonomous_runs.

    Made absolute against the caller's cwd *before* use: the seed resolved it inside each worktree.
    """
    raw = flag or _env(environ, "runs_dir") or environ.get(SEED_RUNS_DIR_ENV) or None
    path = Path(os.path.expanduser(raw)) if raw else repo / DEFAULT_RUNS_DIR_NAME
    absolute = path if path.is_absolute() else cwd / path
    return Path(os.path.normpath(absolute))


def _flag_list(flags: Mapping[str, object], key: str, environ: Mapping[str, str]) -> list[str]:
    """A repeatable flag's values, else its environment variable as one value."""
    values = flags.get(key)
    if isinstance(values, list | tuple) and values:
        return [str(v) for v in values]
    from_env = _env(environ, key)
    return [from_env] if from_env else []


def _read_ids_files(paths: Sequence[str], cwd: Path) -> list[str]:
    texts = []
    for raw in paths:
        path = cwd / raw
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --run-ids-file {raw}: {exc}") from None
    return texts


def _command_spec(command: str | None, argv: Sequence[str], environ: Mapping[str, str]) -> CommandSpec:
    if command and argv:
        raise ConfigError("give the command either with --command or after --, not both")
    if argv:
        return CommandSpec(argv=tuple(argv))
    text = command or _env(environ, "command")
    if not text or not text.strip():
        raise ConfigError("no command given: use --command 'CMD' or put the command after --")
    return CommandSpec(shell=text)


def build_run_settings(
    *,
    flags: Mapping[str, object],
    argv: Sequence[str],
    environ: Mapping[str, str],
    cwd: Path,
) -> RunSettings:
    """Validate the `run` flags (argparse values, None when not given) into RunSettings."""

    def pick(key: str) -> str | None:
        value = flags.get(key)
        return str(value) if value is not None else _env(environ, key)

    run_ids = collect_run_ids(
        run_ids_args=_flag_list(flags, "run_ids", environ),
        files_text=_read_ids_files(_flag_list(flags, "run_ids_file", environ), cwd),
    )
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    timeout_text, grace_text = pick("timeout"), pick("grace")
    keep = bool(flags.get("keep_worktrees")) or _parse_bool(
        environ.get(ENV["keep_worktrees"], ""), name=ENV["keep_worktrees"]
    )
    return RunSettings(
        source_repo=repo,
        runs_dir=resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo),
        run_ids=tuple(run_ids),
        command=_command_spec(pick("command"), argv, environ),
        workers=_parse_workers(pick("workers") or str(min(4, os.cpu_count() or 1))),
        timeout=parse_duration(timeout_text) if timeout_text else None,
        grace=parse_duration(grace_text) if grace_text else DEFAULT_GRACE_SECONDS,
        keep_worktrees=keep,
        base_ref=pick("base_ref") or "HEAD",
        batch_id=pick("batch_id") or default_batch_id(environ),
        environ=environ,
    )


def build_report_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ReportSettings:
    """Validate the `report` flags."""
    runs_flag = flags.get("runs_dir")
    raw_runs = str(runs_flag) if runs_flag else None
    if raw_runs or _env(environ, "runs_dir") or environ.get(SEED_RUNS_DIR_ENV):
        runs_dir = resolve_runs_dir(raw_runs, environ, cwd=cwd, repo=cwd)
    else:
        source = flags.get("source_repo")
        repo = resolve_source_repo(str(source) if source else None, environ, cwd)
        runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=repo)
    fmt = str(flags.get("format") or _env(environ, "format") or "table")
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format {fmt!r} is not one of: table, json")
    batch = flags.get("batch")
    return ReportSettings(runs_dir=runs_dir, format=fmt, batch_id=str(batch) if batch else None)
