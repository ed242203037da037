"""`parallel-runs artifacts list|get`: read a run's artifacts back, from this machine's runs dir or from
the shared store (on any machine)."""

from __future__ import annotations

import sys

from parallel_runs.cli.common import (
    Parser,
    add_batch_option,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    not_found_here,
)
from parallel_runs.config.flags import ARTIFACTS_FORMATS
from parallel_runs.errors import EXIT_OK, NotFoundError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.artifacts import ArtifactsGetSettings, ArtifactsListSettings
    from parallel_runs.core.layout import RunPaths
    from parallel_runs.store import ArtifactInfo, SharedStore

__all__ = ["cmd_artifacts_get", "cmd_artifacts_list", "register"]

EXIT_CODES = exit_codes_help({0: "done", 2: "usage error, or no such run, attempt or artifact"})
DESCRIPTION = (
    "Read what a run left in its artifacts dir (run.log, result.json, changes.patch, ci/*): from this "
    "machine's runs dir (the files of the run's latest attempt), or with --database-url from the shared "
    "store, where every attempt's files are kept."
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", help="the run id")
    add_batch_option(parser, "the run's attempt in this batch (default: its latest)")
    parser.add_argument(
        "--attempt",
        metavar="N",  # a count, parsed with the others in config
        help=env_help("this attempt (default: the latest)", "artifact_attempt"),
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(parser)


def register(commands: Any) -> None:
    """Add `artifacts list` and `artifacts get` to the subparsers."""
    artifacts = commands.add_parser(
        "artifacts",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
    )
    actions = artifacts.add_subparsers(
        dest="artifacts_action", metavar="ACTION", parser_class=Parser, required=True
    )
    listing = actions.add_parser(
        "list", help="the files an attempt left", description=DESCRIPTION, epilog=EXIT_CODES
    )
    _common(listing)
    listing.add_argument(
        "--format",
        choices=ARTIFACTS_FORMATS,
        help=env_help("output format (default table)", "artifacts_format"),
    )
    listing.set_defaults(
        handler=cmd_artifacts_list,
        build_settings=deferred("parallel_runs.config.artifacts", "build_artifacts_list_settings"),
    )
    get = actions.add_parser(
        "get", help="one file, byte for byte", description=DESCRIPTION, epilog=EXIT_CODES
    )
    _common(get)
    get.add_argument("name", metavar="NAME", help="the file's path in the artifacts dir, e.g. run.log")
    get.add_argument(
        "--output", "-o", metavar="FILE", help=env_help("write it here instead of stdout", "artifact_output")
    )
    get.set_defaults(
        handler=cmd_artifacts_get,
        build_settings=deferred("parallel_runs.config.artifacts", "build_artifacts_get_settings"),
    )


def _local_files(
    settings: ArtifactsListSettings | ArtifactsGetSettings,
) -> tuple[RunPaths, list[ArtifactInfo]]:
    """The run's dir under the runs dir, and its files (those of its latest attempt)."""
    from parallel_runs.store.local_artifacts import (
        choose_attempt,
        list_local_artifacts,
        local_attempts,
        local_paths,
    )

    run_id, runs_dir = settings.run_id, settings.where.local_runs_dir
    paths = local_paths(runs_dir, run_id)
    attempts = local_attempts(paths, run_id) if paths else []
    chosen = choose_attempt(attempts, run_id=run_id, batch_id=settings.batch_id, attempt=settings.attempt)
    if paths is None or chosen is None:
        raise not_found_here(f"no such run {run_id!r}", runs_dir)
    return paths, list_local_artifacts(paths, chosen, latest=attempts[-1])


def _shared_listing(
    store: SharedStore, settings: ArtifactsListSettings | ArtifactsGetSettings
) -> list[ArtifactInfo]:
    """The attempt's stored files; NotFoundError saying why when there are none."""
    run_id, batch_id, attempt = settings.run_id, settings.batch_id, settings.attempt
    files = store.list_artifacts(run_id, batch_id=batch_id, attempt=attempt)
    if files:
        return files
    from parallel_runs.store.local_artifacts import choose_attempt

    found = store.run_attempts(run_id)
    chosen = choose_attempt(found, run_id=run_id, batch_id=batch_id, attempt=attempt)
    if chosen is None:
        raise NotFoundError(f"no such run {run_id!r} in the shared store")
    raise NotFoundError(
        f"attempt {chosen.attempt} of run {run_id!r} ({chosen.outcome.value}) stored no artifacts: they are "
        "stored when an attempt ends"
    )


def _print_listing(settings: ArtifactsListSettings, files: list[ArtifactInfo], console: Console) -> None:
    if settings.format == "json":
        import json

        rows = [
            {
                "name": f.name,
                "size": f.size,
                "sha256": f.sha256,
                "skipped": f.skipped,
                "attempt": f.attempt,
                "batch_id": f.batch_id,
            }
            for f in files
        ]
        sys.stdout.write(json.dumps({"run_id": settings.run_id, "artifacts": rows}, indent=2) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"artifacts of {settings.run_id}")
    for column in ("name", "size", "sha256", "attempt", "batch"):
        table.add_column(column)
    for f in files:
        sha = "skipped (over the size cap)" if f.skipped else (f.sha256 or "")[:16]
        table.add_row(Text(f.name), str(f.size), sha, str(f.attempt), Text(f.batch_id))
    from parallel_runs.cli.console import print_table

    print_table(console, table)


def cmd_artifacts_list(settings: ArtifactsListSettings, console: Console) -> int:
    """List an attempt's files with sizes (skipped ones were over the shared store's size cap)."""
    url = settings.where.database_url
    if url is None:
        files = _local_files(settings)[1]
    else:
        from parallel_runs.store import SharedStore

        with SharedStore.connect(url) as store:
            files = _shared_listing(store, settings)
    _print_listing(settings, files, console)
    return EXIT_OK


def _get_local(settings: ArtifactsGetSettings) -> None:
    import shutil

    from parallel_runs.store.artifacts import find_artifact

    paths, files = _local_files(settings)
    find_artifact(files, run_id=settings.run_id, name=settings.name)
    with (paths.artifacts / settings.name).open("rb") as source:
        if settings.output:
            with settings.output.open("wb") as out:
                shutil.copyfileobj(source, out)
        else:
            shutil.copyfileobj(source, sys.stdout.buffer)
            sys.stdout.buffer.flush()


def cmd_artifacts_get(settings: ArtifactsGetSettings, console: Console) -> int:
    """Write one artifact to a file (streamed) or to stdout."""
    url = settings.where.database_url
    if url is None:
        _get_local(settings)
        return EXIT_OK
    from parallel_runs.store import SharedStore

    run_id, name, batch_id, attempt = settings.run_id, settings.name, settings.batch_id, settings.attempt
    with SharedStore.connect(url) as store:
        _shared_listing(store, settings)  # says why when there is nothing to get
        if settings.output:
            store.copy_artifact(run_id, name, destination=settings.output, batch_id=batch_id, attempt=attempt)
        else:
            data = store.read_artifact(run_id, name, batch_id=batch_id, attempt=attempt)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    return EXIT_OK
