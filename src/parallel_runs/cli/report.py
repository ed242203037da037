"""`parallel-runs report`: one table of runs from every store it finds, as table/json/markdown/html."""

from __future__ import annotations

import sys

from parallel_runs.cli.common import (
    PROG,
    add_batch_option,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    make_console,
)
from parallel_runs.errors import EXIT_OK, ConfigError, NotFoundError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.report import ReportSettings
    from parallel_runs.report import RunRow
    from parallel_runs.store.records import Records

__all__ = ["cmd_report", "register"]

FORMATS = ("table", "json", "markdown", "html", "summary")


EXIT_CODES = exit_codes_help(
    {
        0: "the report was printed or written (also when nothing has run yet)",
        2: "usage error, or no such batch",
    }
)
DESCRIPTION = (
    "One table of runs, each shown by its latest attempt (in batch ID with --batch): from every per-run "
    "store under the runs dir, or with --database-url from the shared store (no repository needed). "
    "Formats: table, json, markdown (a PR comment or job summary), html (one self-contained page with "
    "a timeline)."
)


def register(commands: Any) -> None:
    """Add the `report` command to the subparsers."""
    rep = commands.add_parser(
        "report",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
    )
    rep.add_argument(
        "--format",
        choices=FORMATS,
        help=env_help(
            "output format: table, json, markdown, html, or summary (markdown with a mermaid timeline, for a "
            "GitHub job summary); default table",
            "format",
        ),
    )
    rep.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help=env_help("write the report to FILE instead of stdout (its path goes to stderr)", "output"),
    )
    add_batch_option(rep, "only attempts made in batch ID (each run shows its latest attempt in that batch)")
    rep.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read this shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(rep)
    rep.set_defaults(
        handler=cmd_report, build_settings=deferred("parallel_runs.config.report", "build_report_settings")
    )


def _empty_line(settings: ReportSettings) -> str:
    batch = f" in batch {settings.batch_id}" if settings.batch_id else ""
    where = settings.where.store_file or settings.where.runs_dir or "the shared store"
    return f"no runs found under {where}{batch}"


def _render(rows: list[RunRow], settings: ReportSettings) -> str:
    from datetime import UTC, datetime

    from parallel_runs import report
    from parallel_runs.core.redaction import Redactor

    return report.render(
        rows,
        settings.format,
        title=report.format_title(settings.batch_id),
        now=datetime.now(UTC),
        empty=_empty_line(settings),
        redact=Redactor(settings.secrets),
    )


def _write(text: str, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path


def _rows(settings: ReportSettings) -> tuple[list[RunRow], str | None]:
    """The rows the location holds (in the batch asked for), and what to hint when there are none;
    NotFoundError for a batch it does not know."""
    from parallel_runs import report
    from parallel_runs.store.opening import open_records

    where, batch_id = settings.where, settings.batch_id
    where.check_runs_dir()
    with open_records(where.place, store_file=where.store_file) as records:
        rows = report.build_rows(records.attempts(batch_id), batch_id=batch_id)
        if batch_id is not None and not rows:
            _check_batch(records, batch_id)
    return rows, records.hint_when_empty


def _check_batch(records: Records, batch_id: str) -> None:
    """A batch with no runs to show: one the location knows (queued, not started), else NotFoundError."""
    known = next((summary for summary in records.batches() if summary.batch_id == batch_id), None)
    if known is not None and known.refused is not None:
        raise NotFoundError(f"batch {batch_id!r} has no runs: it was refused, {known.refused}")
    if known is None:
        raise records.not_found(f"no such batch {batch_id!r}")


def cmd_report(settings: ReportSettings, console: Console) -> int:
    """Read every per-run store under the runs dir (or the shared store) and print or write the report."""
    from parallel_runs import report

    rows, hint = _rows(settings)
    if not rows and hint:
        make_console(stderr=True).print(f"{PROG}: {hint}", markup=False)
    if settings.output:
        path = _write(_render(rows, settings), settings.output)
        make_console(stderr=True).print(f"{PROG}: {settings.format} report written to {path}", markup=False)
    elif settings.format != "table":
        sys.stdout.write(_render(rows, settings))
    elif rows:
        from parallel_runs.cli.console import print_table

        print_table(console, report.render_table(rows))
    else:
        console.print(_empty_line(settings), markup=False)
    return EXIT_OK
