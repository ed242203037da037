"""Settings of `parallel-runs run` (and `worker`, whose batch is the store's): the batch request, read
from the option table (config/options.py), and this machine's side."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parallel_runs.config.common import (
    default_batch_id,
    default_workers,
    env_value,
    flag_bool,
    flag_list,
    is_postgres_url,
    parse_bool,
    parse_count,
    parse_workers,
    picker,
    postgres_only,
    read_bounded_text,
    resolve_database_url,
    sqlite_path,
)
from parallel_runs.config.options import OPTIONS, Option, option
from parallel_runs.config.tasks import read_tasks, tasks_of
from parallel_runs.config.worker import WorkerSettings, build_machine, build_worker_settings
from parallel_runs.core.batch import BatchRequest
from parallel_runs.core.braces import MAX_EXPANSION
from parallel_runs.core.command import PLACEHOLDERS, CommandSpec, unknown_placeholders
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.ids import collect_run_ids, validate_batch_id
from parallel_runs.core.policy import check_shared_sqlite_workers
from parallel_runs.core.shards import Shard, parse_shard, shard_ids
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError

__all__ = [
    "BatchToQueue",
    "RunSettings",
    "build_batch_to_queue",
    "build_run_settings",
    "build_worker_run_settings",
    "read_run_ids",
]

# MAX_EXPANSION ids of at most 128 characters, one a line, fit in 13 MB: a bigger ids file is a
# mistake (`/dev/zero`, a log) and is refused after reading this much, never read whole.
MAX_IDS_FILE_BYTES = 16 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchToQueue:
    """A batch to queue (`run`, and `plan` with a shared store): what it asks, and this machine's side."""

    request: BatchRequest
    machine: WorkerSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """What `run` and `worker` work: the batch asked for, and this machine's side of it.

    `request` is None for a `worker`, which reads the batch from the store.
    """

    request: BatchRequest | None
    machine: WorkerSettings  # where and how many at once; the store
    dry_run: bool = False  # say what would run, be skipped or redone; touch nothing

    @property
    def batch_id(self) -> str:
        """The batch's id."""
        return self.machine.batch_id


def _read_ids_file(raw: str, cwd: Path) -> str:
    """One ids file's text (`-`: standard input), refused past MAX_IDS_FILE_BYTES without reading further."""
    too_large = (
        f"--run-ids-file {raw} is larger than {MAX_IDS_FILE_BYTES // 2**20} MiB: "
        f"a batch takes at most {MAX_EXPANSION} run ids"
    )
    return read_bounded_text(raw, cwd, limit=MAX_IDS_FILE_BYTES, too_large=too_large, stdin=True)


def _read_ids_files(paths: Sequence[str], cwd: Path) -> list[str]:
    """The files' texts; `-` is standard input (`seq 1 20 | parallel-runs run --run-ids-file -`)."""
    texts = []
    for raw in paths:
        try:
            texts.append(_read_ids_file(raw, cwd))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --run-ids-file {raw}: {exc}") from None
    return texts


def read_run_ids(flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path) -> tuple[str, ...]:
    """--run-ids and the --run-ids-file contents (else their environment variables), expanded; or the
    ids of the --tasks file."""
    if (tasks := read_tasks(flags, environ, cwd)) is not None:
        return tasks[0]
    return tuple(
        collect_run_ids(
            run_ids_args=flag_list(flags, "run_ids", environ),
            files_text=_read_ids_files(flag_list(flags, "run_ids_file", environ), cwd),
        )
    )


def _shard_of(run_ids: tuple[str, ...], shard: Shard | None, *, database_url: str | None) -> tuple[str, ...]:
    """This leg's share of the ids with --shard K/N (all of them without)."""
    if shard is None:
        return run_ids
    if database_url is not None:
        raise ConfigError("--shard splits a batch without a shared store; with --database-url use `worker`")
    mine = tuple(shard_ids(run_ids, shard))
    if not mine:
        raise ConfigError(f"shard {shard} of {len(run_ids)} run id(s) is empty: use at most {len(run_ids)}")
    return mine


def _command_spec(command: str | None, argv: Sequence[str], environ: Mapping[str, str]) -> CommandSpec:
    if command and argv:
        raise ConfigError("give the command either with --command or after --, not both")
    if argv:
        spec = CommandSpec(argv=tuple(argv))
    else:
        text = command or env_value(environ, "command")
        if not text or not text.strip():
            raise ConfigError("no command given: use --command 'CMD' or put the command after --")
        spec = CommandSpec(shell=text)
    if unknown := unknown_placeholders(spec):
        # Passed on literally, a typo such as {runid} would reach every run unnoticed.
        name = unknown[0]
        known = " ".join(f"{{{known}}}" for known in PLACEHOLDERS)
        raise ConfigError(
            f"the command uses {{{name}}}, which is no placeholder (known: {known}); "
            f"write {{{{{name}}}}} for a literal {{{name}}}"
        )
    return spec


def _shared_sqlite_file(url: str | None, *, workers: int, cwd: Path) -> Path | None:
    """The one SQLite file a `sqlite:///` URL names, after the concurrency policy allowed it."""
    if url is None or is_postgres_url(url):
        return None
    path = sqlite_path(url, cwd)
    check_shared_sqlite_workers(workers)
    return path


def _parsed(opt: Option, text: str) -> Any:
    """An option's text, read as its kind says (the error names its flag)."""
    if opt.kind == "duration":
        return parse_duration(text, name=opt.name)
    if opt.kind == "count":
        return parse_count(text, flag=opt.name, minimum=opt.minimum)
    return text


def _value(opt: Option, pick: Callable[[str], str | None]) -> Any:
    """The option's value, else its default; None when it has neither. An empty flag is an error
    (`--timeout ''` is not "no timeout"), except where the table gives a default to fall back on."""
    text = pick(opt.key)
    if text is None or (not text and opt.kind != "duration" and opt.default is not None):
        text = opt.default
    return None if text is None else _parsed(opt, text)


def _requested(flags: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, Any]:
    """The request's fields that the table fills directly (config/options.py, `field`), parsed."""
    pick, values = picker(flags, environ), {}
    for opt in OPTIONS:
        if opt.field is None:
            continue
        if opt.kind in ("flag", "switch"):
            default = parse_bool(opt.default or "", name=opt.env)
            values[opt.field] = flag_bool(flags, opt.key, environ, default=default)
        elif (value := _value(opt, pick)) is not None:
            values[opt.field] = value
    return values


def _test_spec(
    flags: Mapping[str, object], environ: Mapping[str, str], *, timeout: float | None
) -> TestSpec | None:
    """The test command of the batch (None without --test-command), where its reports are, its rules."""
    pick = picker(flags, environ)
    command = pick("test_command")
    reports = tuple(flag_list(flags, "test_report", environ))
    allow_empty = flag_bool(flags, "allow_empty_baseline", environ)
    if not command or not command.strip():
        if reports or allow_empty:
            flag = "--test-report" if reports else "--allow-empty-baseline"
            raise ConfigError(f"{flag} applies to the test gate: add --test-command")
        return None
    retries = _value(option("test_retries"), pick)
    try:
        return TestSpec(
            command=CommandSpec(shell=command),
            timeout=timeout,
            retries=retries,
            reports=reports,
            allow_empty_baseline=allow_empty,
        )
    except ValueError as exc:  # a --test-report glob that leaves the worktree
        raise ConfigError(f"--test-report: {exc}") from None


def _worktree_tools(flags: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, Any]:
    """--setup-command and --copy-ignored."""
    setup = picker(flags, environ)("setup_command")
    if setup is not None and not setup.strip():
        raise ConfigError("--setup-command is empty: give the command, or leave the option out")
    return {
        "setup": CommandSpec(shell=setup) if setup else None,
        "copy_ignored": tuple(pattern for pattern in flag_list(flags, "copy_ignored", environ) if pattern),
    }


def _machine(
    flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path, *, workers: int
) -> WorkerSettings:
    """This machine's side of the batch, with the store the database URL names."""
    database_url = resolve_database_url(flags, environ)
    shared_sqlite = _shared_sqlite_file(database_url, workers=workers, cwd=cwd)
    postgres = postgres_only(database_url)
    for key, flag in (("lease_ttl", "--lease-ttl"), ("max_artifact_size", "--max-artifact-size")):
        if postgres is None and flags.get(key) is not None:
            raise ConfigError(f"{flag} applies to the shared PostgreSQL store only: add --database-url")
    batch_id = picker(flags, environ)("batch_id")
    batch_id = default_batch_id(environ) if batch_id is None else batch_id
    validate_batch_id(batch_id)
    return build_machine(
        flags,
        environ,
        cwd,
        batch_id=batch_id,
        workers=workers,
        database_url=postgres,
        shared_sqlite=shared_sqlite,
    )


def build_batch_to_queue(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path, shard: Shard | None = None
) -> BatchToQueue:
    """Validate the `run` flags (argparse values, None when not given; the argv after -- is
    `command_argv`) into the batch's request and this machine's settings. `shard`: this leg's share
    of the ids, as the action's leg and legs give it (else --shard K/N)."""
    pick = picker(flags, environ)
    tasks = read_tasks(flags, environ, cwd)
    run_ids = tasks[0] if tasks is not None else read_run_ids(flags, environ, cwd)
    argv = flags.get("command_argv") or ()
    command = _command_spec(pick("command"), argv if isinstance(argv, list | tuple) else (), environ)
    workers = parse_workers(pick("workers") or default_workers())
    machine = _machine(flags, environ, cwd, workers=workers)
    if shard is None and (text := pick("shard")):
        shard = parse_shard(text)
    mine = _shard_of(run_ids, shard, database_url=machine.database_url)
    request = BatchRequest(
        batch_id=machine.batch_id,
        run_ids=mine,
        command=command,
        tasks=tasks_of(mine, tasks),
        **_requested(flags, environ),
        tests=_test_spec(flags, environ, timeout=_value(option("test_timeout"), pick)),
        **_worktree_tools(flags, environ),
    )
    return BatchToQueue(request=request, machine=machine)


def build_run_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path, shard: Shard | None = None
) -> RunSettings:
    """`run`'s settings: the batch to queue and work here (build_batch_to_queue), and --dry-run."""
    batch = build_batch_to_queue(flags=flags, environ=environ, cwd=cwd, shard=shard)
    return RunSettings(
        request=batch.request, machine=batch.machine, dry_run=flag_bool(flags, "dry_run", environ)
    )


def build_worker_run_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> RunSettings:
    """`worker`'s settings: this machine's side only; the batch is the one the store holds."""
    return RunSettings(request=None, machine=build_worker_settings(flags=flags, environ=environ, cwd=cwd))
