"""The report as a terminal table (rich): coloured statuses, a caption with the counts."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from parallel_runs.core.model import Outcome
from parallel_runs.report.rows import (
    DEFAULT_TITLE,
    STATUS_COLUMN,
    Column,
    RunRow,
    summarize,
    visible_columns,
)

__all__ = ["NO_RUNS", "STATUS_STYLES", "needed_width", "render_table", "render_table_text"]

_UNBOUNDED = 100_000  # columns to measure a table in: more than any table of ours needs
NO_RUNS = "no runs found"  # what the table says instead of an empty table

STATUS_STYLES: dict[Outcome, str] = {
    Outcome.SUCCEEDED: "green",
    Outcome.SKIPPED: "dim green",
    Outcome.FAILED: "bold red",
    Outcome.REGRESSED: "magenta",
    Outcome.TIMED_OUT: "yellow",
    Outcome.CANCELLED: "yellow",
    Outcome.ABANDONED: "red",
    Outcome.HELD: "cyan",
    Outcome.RUNNING: "blue",
}


def _caption(rows: Sequence[RunRow]) -> str:
    counts = summarize(rows)
    noun = "run" if len(rows) == 1 else "runs"
    detail = ", ".join(f"{count} {status.value}" for status, count in counts.items())
    return f"{len(rows)} {noun}" + (f": {detail}" if detail else "")


def _table_cell(column: Column, row: RunRow) -> Text | str:
    text = column.cell(row)
    if column is STATUS_COLUMN:
        return Text(text, style=STATUS_STYLES.get(row.latest.outcome, ""))
    return text if column.numeric else Text(text)  # Text, not str: run ids may contain [markup]


def render_table(rows: Sequence[RunRow]) -> Table:
    """A rich Table of the rows (the caller owns the Console that prints it)."""
    table = Table(title=DEFAULT_TITLE, caption=_caption(rows))
    columns = visible_columns(rows)
    for column in columns:
        table.add_column(
            column.terminal_header,
            justify="right" if column.numeric else "left",
            overflow="fold" if column.code else "ellipsis",
        )
    for row in rows:
        table.add_row(*(_table_cell(column, row) for column in columns))
    return table


def needed_width(table: Table) -> int:
    """The columns `table` needs to show every cell whole (no status cut to "succee…", no branch wrapped)."""
    console = Console(width=_UNBOUNDED)
    return Measurement.get(console, console.options, table).maximum


def render_table_text(rows: Sequence[RunRow], *, width: int | None = None, empty: str = NO_RUNS) -> str:
    """The table as plain text `width` columns wide (default: as wide as it needs; no colour); `empty`
    instead when there are no rows."""
    table = render_table(rows) if rows else None
    buffer = StringIO()
    columns = width or (needed_width(table) if table else _UNBOUNDED)
    Console(file=buffer, width=columns, color_system=None, highlight=False).print(
        table or empty, markup=False
    )
    return buffer.getvalue()
