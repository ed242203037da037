"""Where the commands that read records back (report, batches, logs, artifacts) look."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    ENV,
    SEED_RUNS_DIR_ENV,
    env_value,
    is_postgres_url,
    parse_count,
    picker,
    resolve_database_url,
    resolve_runs_dir,
    resolve_source_repo,
    sqlite_path,
)
from parallel_runs.core.urls import mask_url
from parallel_runs.errors import ConfigError

__all__ = ["RecordsLocation", "parse_attempt", "records_location"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsLocation:
    """The shared PostgreSQL store when a URL names one, else a runs dir on this machine."""

    database_url: str | None = None
    runs_dir: Path | None = None
    runs_dir_is_default: bool = False  # <repo>/.autonomous_runs: missing just means "nothing ran here"
    store_file: Path | None = (
        None  # a sqlite:///FILE URL's file: the records are there, the logs in the runs dir
    )

    def __post_init__(self) -> None:
        if (self.database_url is None) == (self.runs_dir is None):
            raise ValueError("records are read from either a database URL or a runs dir")

    def check_runs_dir(self) -> None:
        """ConfigError when the runs dir the user named is missing or not a directory (the default one
        may be missing: nothing ran here yet); a database URL or a store file names no runs dir to check."""
        runs_dir = self.runs_dir
        if runs_dir is None or self.store_file is not None or runs_dir.is_dir():
            return
        if not (self.runs_dir_is_default and not runs_dir.exists()):
            problem = "is not a directory" if runs_dir.exists() else "does not exist"
            raise ConfigError(f"runs dir {runs_dir} {problem}")

    @property
    def is_shared(self) -> bool:
        """True when the records are the shared store's (every machine's), not this runs dir's."""
        return self.database_url is not None

    @property
    def place(self) -> Path | str:
        """What `store.open_records` opens: the database URL, else the runs dir."""
        return self.database_url or self.local_runs_dir

    @property
    def local_runs_dir(self) -> Path:
        """The runs dir, for a location without a database URL."""
        if self.runs_dir is None:
            raise ValueError("this location is the shared store, not a runs dir")
        return self.runs_dir


def records_location(flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path) -> RecordsLocation:
    """--database-url (no repository needed), else --runs-dir or its variables, else the default.

    A sqlite:///FILE URL names the store the runs dir's runs were recorded in (`run --database-url
    sqlite:///FILE`, or a run's own PARALLEL_RUNS_DATABASE_URL); any other URL is refused, never passed over.
    """
    url = resolve_database_url(flags, environ)
    if url is not None and is_postgres_url(url):
        return RecordsLocation(database_url=url)
    store_file = None if url is None else _existing_store_file(url, cwd)
    pick = picker(flags, environ, skip_empty=True)
    raw = pick("runs_dir")
    if raw or environ.get(SEED_RUNS_DIR_ENV):
        runs_dir = resolve_runs_dir(raw, environ, cwd=cwd, repo=cwd)
        return RecordsLocation(runs_dir=runs_dir, store_file=store_file)
    repo = resolve_source_repo(pick("source_repo"), environ, cwd)
    runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=repo)
    return RecordsLocation(runs_dir=runs_dir, runs_dir_is_default=True, store_file=store_file)


def _existing_store_file(url: str, cwd: Path) -> Path:
    path = sqlite_path(url, cwd)
    if not path.is_file():
        raise ConfigError(f"--database-url {mask_url(url)}: there is no SQLite store at {path}")
    return path


def parse_attempt(flags: Mapping[str, object], environ: Mapping[str, str], *, env_key: str) -> int | None:
    """--attempt, else its variable, as a number; the error names where the bad value came from."""
    flag = flags.get("attempt")
    text: str | None
    if flag is not None:
        name, text = "--attempt", str(flag)
    else:
        name, text = ENV[env_key], env_value(environ, env_key)
    if text is None:
        return None
    try:
        return parse_count(text, flag=name)
    except ConfigError:
        raise ConfigError(f"{name}={text!r} is not an attempt number") from None
