"""`parallel-runs batches`: one line per batch, with its runs counted by outcome and its times."""

from __future__ import annotations

import sys

from parallel_runs.cli.common import (
    PROG,
    SHARED_STORE_HINT,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    make_console,
)
from parallel_runs.config.flags import BATCHES_FORMATS
from parallel_runs.errors import EXIT_OK

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.batches import BatchesSettings
    from parallel_runs.core.batch import BatchSummary

__all__ = ["cmd_batches", "register"]

DESCRIPTION = (
    "List the batches recorded under the runs dir (or with --database-url, in the shared store), oldest "
    "first: one line each with its runs counted by the outcome of their latest attempt in it (queued and "
    "running too, in the shared store) and when it began and last ended (UTC). A batch refused before any "
    "run started (its test command could not judge at the base commit) is listed `refused`, with why."
)


def register(commands: Any) -> None:
    """Add the `batches` command to the subparsers."""
    batches = commands.add_parser(
        "batches",
        description=DESCRIPTION,
        epilog=exit_codes_help({0: "listed (also when there is none)"}),
    )
    batches.add_argument(
        "--format", choices=BATCHES_FORMATS, help=env_help("output format (default table)", "batches_format")
    )
    batches.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(batches)
    batches.set_defaults(
        handler=cmd_batches, build_settings=deferred("parallel_runs.config.batches", "build_batches_settings")
    )


def _summaries(settings: BatchesSettings) -> list[BatchSummary]:
    url = settings.where.database_url
    if url is not None:
        from parallel_runs.store import SharedStore

        with SharedStore.connect(url) as store:
            return store.batch_summaries()
    from parallel_runs import report
    from parallel_runs.report.batches import refused_batches, summarize_batches

    runs_dir, store_file = settings.where.local_runs_dir, settings.where.store_file
    if store_file is None and not runs_dir.is_dir():
        return []
    ran = summarize_batches(report.collect_attempts(runs_dir, store_file=store_file))
    if store_file is not None:
        return ran
    seen = {summary.batch_id for summary in ran}  # refused once, then run: the runs tell
    refused = [summary for summary in refused_batches(runs_dir) if summary.batch_id not in seen]
    return sorted([*ran, *refused], key=lambda summary: (summary.first is None, summary.first))


def cmd_batches(settings: BatchesSettings, console: Console) -> int:
    """Print one line per batch (or a JSON document)."""
    from parallel_runs.report.batches import format_summary

    summaries = _summaries(settings)
    if settings.format == "json":
        import json

        sys.stdout.write(json.dumps({"batches": [s.to_json() for s in summaries]}, indent=2) + "\n")
    else:
        width = max((len(summary.batch_id) for summary in summaries), default=0)
        for summary in summaries:
            console.print(format_summary(summary, width=width), markup=False)
        if not summaries:
            console.print(
                f"no batches found under {settings.where.runs_dir or 'the shared store'}", markup=False
            )
    if not summaries and settings.where.database_url is None:
        make_console(stderr=True).print(f"{PROG}: {SHARED_STORE_HINT}", markup=False)
    return EXIT_OK
