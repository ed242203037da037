"""One frozen Settings per command, built from flags > environment > defaults, validated here.

The only library module that reads the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.ids import collect_run_ids
from parallel_runs.core.policy import check_shared_sqlite_workers, workers_warning
from parallel_runs.core.sizes import parse_size
from parallel_runs.core.suite import TestSpec
from parallel_runs.core.urls import mask_url
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
DEFAULT_LEASE_TTL_SECONDS = 60.0
DEFAULT_MAX_ARTIFACT_SIZE = "50MiB"
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
    "output": "PARALLEL_RUNS_REPORT_OUTPUT",
    "batch": "PARALLEL_RUNS_BATCH_ID",  # report --batch reads the same variable run --batch-id does
    "retries": "PARALLEL_RUNS_RETRIES",
    "retry_delay": "PARALLEL_RUNS_RETRY_DELAY",
    "redo": "PARALLEL_RUNS_REDO",
    "only_failed": "PARALLEL_RUNS_ONLY_FAILED",
    "max_batch_time": "PARALLEL_RUNS_MAX_BATCH_TIME",
    "database_url": "PARALLEL_RUNS_DATABASE_URL",
    "quiet": "PARALLEL_RUNS_QUIET",
    "worktrees_format": "PARALLEL_RUNS_WORKTREES_FORMAT",
    "test_command": "PARALLEL_RUNS_TEST_COMMAND",
    "test_timeout": "PARALLEL_RUNS_TEST_TIMEOUT",
    "test_retries": "PARALLEL_RUNS_TEST_RETRIES",
    "fail_on_regression": "PARALLEL_RUNS_FAIL_ON_REGRESSION",
    "lease_ttl": "PARALLEL_RUNS_LEASE_TTL",
    "max_artifact_size": "PARALLEL_RUNS_MAX_ARTIFACT_SIZE",
    "older_than": "PARALLEL_RUNS_CLEANUP_OLDER_THAN",
    "json_events": "PARALLEL_RUNS_JSON_EVENTS",
}
SEED_DATABASE_URL_ENV = "DATABASE_URL"
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
    retries: int = 0
    retry_delay: float = 0.0
    redo: bool = False
    only_failed: bool = False
    max_batch_time: float | None = None
    shared_sqlite: Path | None = None  # one SQLite file for every run (only with one worker)
    warnings: tuple[str, ...] = ()  # things the user should hear about but that do not stop the batch
    tests: TestSpec | None = None  # the test command whose baseline delta judges each run
    fail_on_regression: bool = True  # a run with persistent new test failures ends `regressed`
    shared_database_url: str | None = None  # the shared PostgreSQL store: enqueue, then work the batch
    lease_ttl: float = 60.0
    max_artifact_size: int = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """Everything `parallel-runs report` needs."""

    runs_dir: Path
    format: str
    batch_id: str | None
    output: Path | None = None  # write the report here instead of stdout
    runs_dir_is_default: bool = False  # a missing default runs dir just means "no runs yet"
    shared_database_url: str | None = None  # read the shared PostgreSQL store instead of the runs dir


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
    workers = _parse_count(text, flag="--workers")
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


def _flag_bool(flags: Mapping[str, object], key: str, environ: Mapping[str, str]) -> bool:
    """A store_true flag (None when not given), else its environment variable."""
    if flags.get(key):
        return True
    return _parse_bool(environ.get(ENV[key], ""), name=ENV[key])


def _parse_count(text: str, *, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a whole number") from None
    if value < 0:
        raise ConfigError(f"{flag} must be 0 or more, got {value}")
    return value


def resolve_database_url(flags: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """--database-url, else PARALLEL_RUNS_DATABASE_URL / DATABASE_URL; None with --per-run-sqlite."""
    if flags.get("per_run_sqlite"):
        return None
    value = flags.get("database_url")
    url = str(value) if value else _env(environ, "database_url") or environ.get(SEED_DATABASE_URL_ENV)
    return url or None


def _postgres_only(url: str | None) -> str | None:
    return url if url and is_postgres_url(url) else None


def is_postgres_url(url: str) -> bool:
    """True for the shared store's URLs (postgresql:// and postgresql+psycopg2://)."""
    return url.split(":", 1)[0].lower() in ("postgresql", "postgresql+psycopg2", "postgres")


def _shared_sqlite_file(url: str | None, *, workers: int, cwd: Path) -> Path | None:
    """The one SQLite file a `sqlite:///` URL names, after the concurrency policy allowed it."""
    if url is None or is_postgres_url(url):
        return None
    scheme = url.split(":", 1)[0].lower()
    if not scheme.startswith("sqlite") or not url.startswith(f"{scheme}:///"):
        raise ConfigError(f"--database-url {mask_url(url)}: use sqlite:///FILE or a postgresql:// URL")
    check_shared_sqlite_workers(workers)
    path = Path(url.split(":///", 1)[1])
    return path if path.is_absolute() else cwd / path


def _test_spec(pick: Callable[[str], str | None], *, timeout: float | None) -> TestSpec | None:
    """The test command of the batch (None without --test-command)."""
    command = pick("test_command")
    if not command or not command.strip():
        return None
    retries = _parse_count(pick("test_retries") or "1", flag="--test-retries")
    return TestSpec(command=CommandSpec(shell=command), timeout=timeout, retries=retries)


def _fail_on_regression(flags: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    """--fail-on-regression / --no-fail-on-regression, else the env, else on."""
    flag = flags.get("fail_on_regression")
    if isinstance(flag, bool):
        return flag
    raw = environ.get(ENV["fail_on_regression"])
    return True if raw is None or raw == "" else _parse_bool(raw, name=ENV["fail_on_regression"])


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
    command = _command_spec(pick("command"), argv, environ)
    workers = _parse_workers(pick("workers") or str(min(4, os.cpu_count() or 1)))
    database_url = resolve_database_url(flags, environ)
    shared_sqlite = _shared_sqlite_file(database_url, workers=workers, cwd=cwd)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    durations = {
        key: parse_duration(text)
        for key in ("timeout", "grace", "retry_delay", "max_batch_time", "test_timeout", "lease_ttl")
        if (text := pick(key))
    }
    warning = workers_warning(workers, os.cpu_count() or 1)
    tests = _test_spec(pick, timeout=durations.get("test_timeout"))
    return RunSettings(
        source_repo=repo,
        runs_dir=resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo),
        run_ids=tuple(run_ids),
        command=command,
        workers=workers,
        timeout=durations.get("timeout"),
        grace=durations.get("grace", DEFAULT_GRACE_SECONDS),
        keep_worktrees=_flag_bool(flags, "keep_worktrees", environ),
        base_ref=pick("base_ref") or "HEAD",
        batch_id=pick("batch_id") or default_batch_id(environ),
        environ=environ,
        retries=_parse_count(pick("retries") or "0", flag="--retries"),
        retry_delay=durations.get("retry_delay", 0.0),
        redo=_flag_bool(flags, "redo", environ),
        only_failed=_flag_bool(flags, "only_failed", environ),
        max_batch_time=durations.get("max_batch_time"),
        shared_sqlite=shared_sqlite,
        warnings=(warning,) if warning else (),
        tests=tests,
        fail_on_regression=_fail_on_regression(flags, environ),
        shared_database_url=database_url if database_url and is_postgres_url(database_url) else None,
        lease_ttl=durations.get("lease_ttl", DEFAULT_LEASE_TTL_SECONDS),
        max_artifact_size=parse_size(pick("max_artifact_size") or DEFAULT_MAX_ARTIFACT_SIZE),
    )


def build_report_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ReportSettings:
    """Validate the `report` flags."""

    def pick(key: str) -> str | None:
        value = flags.get(key)
        return str(value) if value else _env(environ, key)

    raw_runs = pick("runs_dir")
    is_default = not (raw_runs or environ.get(SEED_RUNS_DIR_ENV))
    if is_default:
        repo = resolve_source_repo(pick("source_repo"), environ, cwd)
        runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=repo)
    else:
        runs_dir = resolve_runs_dir(raw_runs, environ, cwd=cwd, repo=cwd)
    fmt = pick("format") or "table"
    if fmt not in ("table", "json", "markdown", "html"):
        raise ConfigError(f"--format {fmt!r} is not one of: table, json, markdown, html")
    output = pick("output")
    return ReportSettings(
        runs_dir=runs_dir,
        format=fmt,
        batch_id=pick("batch"),
        output=Path(os.path.normpath(cwd / os.path.expanduser(output))) if output else None,
        runs_dir_is_default=is_default,
        shared_database_url=url
        if (url := resolve_database_url(flags, environ)) and is_postgres_url(url)
        else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerFlags:
    """What `parallel-runs worker` reads from flags and environment, validated."""

    batch_id: str
    database_url: str
    source_repo: Path
    runs_dir: Path
    workers: int
    lease_ttl: float
    max_artifact_size: int
    keep_worktrees: bool
    grace: float
    test_timeout: float | None
    test_retries: int
    fail_on_regression: bool


def build_worker_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> WorkerFlags:
    """Validate the `worker` flags: the batch and the shared store are required."""

    def pick(key: str) -> str | None:
        value = flags.get(key)
        return str(value) if value is not None else _env(environ, key)

    batch_id = pick("batch_id")
    url = resolve_database_url(flags, environ)
    if not batch_id:
        raise ConfigError("worker needs --batch ID (the batch `run --database-url` enqueued)")
    if not url or not is_postgres_url(url):
        raise ConfigError("worker needs --database-url postgresql://... (the shared store holding the batch)")
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    test_timeout = pick("test_timeout")
    return WorkerFlags(
        batch_id=batch_id,
        database_url=url,
        source_repo=repo,
        runs_dir=resolve_runs_dir(pick("runs_dir"), environ, cwd=cwd, repo=repo),
        workers=_parse_workers(pick("workers") or str(min(4, os.cpu_count() or 1))),
        lease_ttl=parse_duration(pick("lease_ttl") or str(DEFAULT_LEASE_TTL_SECONDS)),
        max_artifact_size=parse_size(pick("max_artifact_size") or DEFAULT_MAX_ARTIFACT_SIZE),
        keep_worktrees=_flag_bool(flags, "keep_worktrees", environ),
        grace=parse_duration(pick("grace") or str(DEFAULT_GRACE_SECONDS)),
        test_timeout=parse_duration(test_timeout) if test_timeout else None,
        test_retries=_parse_count(pick("test_retries") or "1", flag="--test-retries"),
        fail_on_regression=_fail_on_regression(flags, environ),
    )
