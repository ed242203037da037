"""`parallel-runs report`: one table of runs from every store it finds, as table/json/markdown/html."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import EXIT_CODES_HELP, PROG, add_location_options, env_help, make_console
from parallel_runs.config import ReportSettings, build_report_settings
from parallel_runs.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from parallel_runs.report import RunRow

__all__ = ["cmd_report", "register"]

FORMATS = ("table", "json", "markdown", "html", "summary")


def register(commands: Any) -> None:
    """Add the `report` command to the subparsers."""
    rep = commands.add_parser(
        "report", help="one table of runs from every store under the runs dir", epilog=EXIT_CODES_HELP
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
    rep.add_argument(
        "--batch",
        metavar="ID",
        help=env_help(
            "only attempts made in batch ID (each run shows its latest attempt in that batch)", "batch"
        ),
    )
    rep.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help(
            "read this shared PostgreSQL store instead of the runs dir (also DATABASE_URL)", "database_url"
        ),
    )
    add_location_options(rep)
    rep.set_defaults(handler=cmd_report, build_settings=build_report_settings)


def _empty_line(settings: ReportSettings) -> str:
    batch = f" in batch {settings.batch_id}" if settings.batch_id else ""
    return f"no runs found under {settings.runs_dir}{batch}"


def _render(rows: list[RunRow], settings: ReportSettings) -> str:
    from parallel_runs import report

    return report.render(
        rows,
        settings.format,
        title=report.format_title(settings.batch_id),
        now=datetime.now(UTC),
        empty=_empty_line(settings),
    )


def _write(text: str, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path


def _local_rows(settings: ReportSettings) -> list[RunRow]:
    from parallel_runs import report

    runs_dir = settings.runs_dir
    if not runs_dir.is_dir():
        if settings.runs_dir_is_default and not runs_dir.exists():
            return []  # nothing has run here yet
        problem = "is not a directory" if runs_dir.exists() else "does not exist"
        raise ConfigError(f"runs dir {runs_dir} {problem}")
    return report.collect_runs(runs_dir, batch_id=settings.batch_id)


def cmd_report(settings: ReportSettings, console: Console) -> int:
    """Read every per-run store under the runs dir and print (or write) them in the chosen format."""
    from parallel_runs import report

    url = settings.shared_database_url
    rows = report.collect_shared_runs(url, batch_id=settings.batch_id) if url else _local_rows(settings)
    if settings.output:
        path = _write(_render(rows, settings), settings.output)
        make_console(stderr=True).print(f"{PROG}: {settings.format} report written to {path}", markup=False)
    elif settings.format != "table":
        sys.stdout.write(_render(rows, settings))
    elif rows:
        console.print(report.render_table(rows))
    else:
        console.print(_empty_line(settings), markup=False)
    return EXIT_OK
