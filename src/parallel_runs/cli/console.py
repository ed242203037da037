"""The CLI's rich Console (imported only when something is printed: `--help` stays fast)."""

from __future__ import annotations

from rich.console import Console

from parallel_runs.cli.common import silence_stdout

__all__ = ["PipeConsole"]


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
