"""The CLI's rich Console (imported only when something is printed: `--help` stays fast)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from parallel_runs.cli.pipes import silence_stdout

__all__ = ["PipeConsole", "print_table"]


class PipeConsole(Console):
    """A Console whose closed pipe (`report | head`) ends its output, not the process.

    rich's own answer is SystemExit(1), raised in whichever thread printed: in `run` that is a
    worker thread, whose run was then left recorded `running`.
    """

    def on_broken_pipe(self) -> None:
        """Print nothing more; the command goes on to its own exit code."""
        self.quiet = True
        if not self.stderr:
            silence_stdout()


def print_table(console: Console, table: Table) -> None:
    """A table at the terminal's width; through a pipe or into a log (`report | cat`, CI, `make demo`),
    as wide as its content needs: 80 columns cut statuses ("succee…") and wrapped branch names."""
    if console.is_terminal:
        console.print(table)
        return
    from parallel_runs.report.table import needed_width  # the report package is slow to import

    detected = console.width
    console.width = needed_width(table)
    try:
        console.print(table)
    finally:
        console.width = detected
