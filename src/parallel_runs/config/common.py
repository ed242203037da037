"""What every command's settings share: the ENV table, flag and environment readers, parsers, and
where the source repository, the runs dir and the database live."""

from __future__ import annotations

import io
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs.config.flags import ENV
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS, DEFAULT_LEASE_TTL, DEFAULT_MAX_ARTIFACT_SIZE
from parallel_runs.core.urls import mask_url
from parallel_runs.errors import ConfigError

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_LEASE_TTL_SECONDS",
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "DEFAULT_RUNS_DIR_NAME",
    "ENV",
    "SEED_DATABASE_URL_ENV",
    "SEED_RUNS_DIR_ENV",
    "absolute_path",
    "check_runs_dir",
    "default_batch_id",
    "default_workers",
    "env_value",
    "flag_bool",
    "flag_list",
    "is_postgres_url",
    "parse_bool",
    "parse_count",
    "parse_workers",
    "picker",
    "postgres_only",
    "resolve_database_url",
    "resolve_runs_dir",
    "resolve_source_repo",
    "sqlite_path",
]

DEFAULT_LEASE_TTL_SECONDS = DEFAULT_LEASE_TTL  # the stores' defaults, so both sides agree
DEFAULT_RUNS_DIR_NAME = ".autonomous_runs"

SEED_DATABASE_URL_ENV = "DATABASE_URL"
# Set by `autopack-supervisor`: runs also get DATABASE_URL (their store), as the seed's runs did.
SEED_SET_DATABASE_URL_ENV = "PARALLEL_RUNS_SET_DATABASE_URL"
SEED_RUNS_DIR_ENV = "AUTONOMOUS_RUNS_DIR"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_value(environ: Mapping[str, str], key: str) -> str | None:
    """The environment variable of flag `key`; None when unset or empty."""
    value = environ.get(ENV[key])
    return value if value else None


def picker(
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    skip_empty: bool = False,
    env_keys: Mapping[str, str] | None = None,
) -> Callable[[str], str | None]:
    """A flag's value as text (None when not given, or empty with `skip_empty`), else its env.

    `env_keys` names the ENV entry of a flag whose dest another command's flag shares: `artifacts list
    --format` reads PARALLEL_RUNS_ARTIFACTS_FORMAT, not the report's PARALLEL_RUNS_REPORT_FORMAT.
    """
    aliases = env_keys or {}

    def pick(key: str) -> str | None:
        value = flags.get(key)
        given = bool(value) if skip_empty else value is not None
        return str(value) if given else env_value(environ, aliases.get(key, key))

    return pick


def parse_bool(text: str, *, name: str) -> bool:
    """1/0, true/false, yes/no, on/off (empty is false); ConfigError naming `name` otherwise."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={text!r} is not a boolean (use 1/0, true/false)")


def parse_count(text: str, *, flag: str, minimum: int = 0) -> int:
    """A whole number of `minimum` or more; the error names the flag and the rule."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{flag} must be {minimum} or more, got {value}")
    return value


def parse_workers(text: str) -> int:
    """--workers: a whole number of 1 or more."""
    return parse_count(text, flag="--workers", minimum=1)


def default_workers() -> str:
    """--workers when not given: one per CPU, at most 4."""
    return str(min(4, os.cpu_count() or 1))


def flag_list(flags: Mapping[str, object], key: str, environ: Mapping[str, str]) -> list[str]:
    """A repeatable flag's values, else its environment variable's lines (one value a line, blank lines
    skipped: what a multi-line input of the action gives)."""
    values = flags.get(key)
    if isinstance(values, list | tuple) and values:
        return [str(v) for v in values]
    from_env = env_value(environ, key) or ""
    return [line.strip() for line in from_env.splitlines() if line.strip()]


def flag_bool(
    flags: Mapping[str, object], key: str, environ: Mapping[str, str], *, default: bool = False
) -> bool:
    """A boolean flag, else its environment variable, else `default` (variable unset or empty).

    A store_true flag is None when not given; a --x/--no-x flag (BooleanOptionalAction) is False
    when negated, and that wins over the environment.
    """
    flag = flags.get(key)
    if isinstance(flag, bool):
        return flag
    raw = environ.get(ENV[key])
    return parse_bool(raw, name=ENV[key]) if raw else default


def default_batch_id(environ: Mapping[str, str], now: datetime | None = None) -> str:
    """CONTRACTS §1: `gh-<run id>-<attempt>` in Actions, else a UTC timestamp plus 4 random hex."""
    run_id = environ.get("GITHUB_RUN_ID")
    if run_id:
        return f"gh-{run_id}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def resolve_source_repo(flag: str | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """The repository runs are made from: --source-repo, env, else the repo around cwd."""
    raw = flag or env_value(environ, "source_repo")
    start = (cwd / raw) if raw else cwd
    if not start.exists():
        raise ConfigError(f"source repository {start} does not exist")
    from parallel_runs import git  # noqa: PLC0415 - GitPython is slow to import; `--help` needs none of it

    return git.repo_root(start.resolve())


def resolve_runs_dir(flag: str | None, environ: Mapping[str, str], *, cwd: Path, repo: Path) -> Path:
    """--runs-dir, else PARALLEL_RUNS_RUNS_DIR / AUTONOMOUS_RUNS_DIR, else <repo>/.autonomous_runs.

    Made absolute against the caller's cwd *before* use: the seed resolved it inside each worktree.
    """
    raw = flag or env_value(environ, "runs_dir") or environ.get(SEED_RUNS_DIR_ENV) or None
    return absolute_path(raw if raw else repo / DEFAULT_RUNS_DIR_NAME, cwd)


def check_runs_dir(runs_dir: Path, repo: Path) -> Path:
    """`runs_dir`, if it can be a batch's: it must not hold the checkout's tracked files nor lie above them.

    It is git-ignored (info/exclude) and holds the worktrees: over tracked files, every later run's
    new files there would be dropped from its save, and the checkout would fill with run files.
    """
    from parallel_runs import git  # noqa: PLC0415 - GitPython is slow to import; `--help` needs none of it

    tracked = git.tracked_files_under(repo, runs_dir)
    if not tracked:
        return runs_dir
    above = repo.resolve().is_relative_to(runs_dir.resolve())
    where = "lies above the checkout's tracked files" if above else "holds files git tracks"
    raise ConfigError(
        f"runs dir {runs_dir} {where} ({len(tracked)}, e.g. {tracked[0]}): give --runs-dir a "
        f"directory of its own, such as {repo / DEFAULT_RUNS_DIR_NAME} (the default)"
    )


def absolute_path(raw: str | os.PathLike[str], cwd: Path) -> Path:
    """A path as the user gave it, made absolute: `~` expanded, relative to `cwd`, normalised."""
    return Path(os.path.normpath(cwd / os.path.expanduser(os.fspath(raw))))


def resolve_database_url(flags: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """--database-url, else PARALLEL_RUNS_DATABASE_URL; None with --per-run-sqlite.

    A plain DATABASE_URL belongs to the user's application: only the seed's `autopack-supervisor`
    reads it (and passes it on as --database-url).
    """
    if flag_bool(flags, "per_run_sqlite", environ):
        return None
    value = flags.get("database_url")
    url = str(value) if value else env_value(environ, "database_url")
    return url or None


def read_bounded_text(raw: str, cwd: Path, *, limit: int, too_large: str, stdin: bool = False) -> str:
    """A file's text, refused (`too_large`) past `limit` bytes without reading further; with `stdin`,
    `-` is standard input. Read through a text wrapper: CRLF and CR end lines too. OSError and
    UnicodeDecodeError are the caller's to word."""
    with nullcontext(sys.stdin.buffer) if stdin and raw == "-" else (cwd / raw).open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(too_large)
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def seed_store(
    *, per_run_sqlite: bool, url: str | None, environ: Mapping[str, str]
) -> tuple[tuple[str, ...], ...]:
    """The seed's choice of store as `run`'s options (key, and the value of one that takes one):
    --per-run-sqlite wins over a URL, and a plain DATABASE_URL names the store (the seed's contract)."""
    if per_run_sqlite:
        return (("per_run_sqlite",),)
    url = url or environ.get(SEED_DATABASE_URL_ENV)
    return (("database_url", url),) if url else ()


def shared_batch(
    flags: Mapping[str, object], environ: Mapping[str, str], *, command: str, batch_hint: str, url_hint: str
) -> tuple[str, str]:
    """The batch id and the postgresql:// URL of the shared store holding it, both required (`worker`,
    `cancel`); the hints end each one-line error."""
    from parallel_runs.core.ids import validate_batch_id  # noqa: PLC0415 - only for these commands

    batch_id = picker(flags, environ)("batch_id")
    url = resolve_database_url(flags, environ)
    if not batch_id:
        raise ConfigError(f"{command} needs --batch ID{batch_hint}")
    validate_batch_id(batch_id)
    if not url or not is_postgres_url(url):
        raise ConfigError(f"{command} needs --database-url postgresql://...{url_hint}")
    return batch_id, url


def is_postgres_url(url: str) -> bool:
    """True for the shared store's URLs (postgresql:// and postgresql+psycopg2://)."""
    return url.split(":", 1)[0].lower() in ("postgresql", "postgresql+psycopg2", "postgres")


def sqlite_path(url: str, cwd: Path) -> Path:
    """The file a `sqlite:///FILE` URL names (relative to `cwd`); ConfigError for other non-Postgres URLs."""
    scheme = url.split(":", 1)[0].lower()
    if not scheme.startswith("sqlite") or not url.startswith(f"{scheme}:///"):
        raise ConfigError(f"--database-url {mask_url(url)}: use sqlite:///FILE or a postgresql:// URL")
    path = Path(url.split(":///", 1)[1])
    return path if path.is_absolute() else cwd / path


def postgres_only(url: str | None) -> str | None:
    """`url` when it names the shared PostgreSQL store, else None."""
    return url if url and is_postgres_url(url) else None
