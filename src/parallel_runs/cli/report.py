"""`parallel-runs report`: one table of runs from every store it finds."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from parallel_runs import report
from parallel_runs.cli.common import EXIT_CODES_HELP, add_location_options, env_help
from parallel_runs.config import build_report_settings
from parallel_runs.errors import EXIT_OK

__all__ = ["cmd_report", "register"]


def register(commands: Any) -> None:
    """Add the `report` command to the subparsers."""
    rep = commands.add_parser(
        "report", help="one table of runs from every store under the runs dir", epilog=EXIT_CODES_HELP
    )
    rep.add_argument(
        "--format", choices=("table", "json"), help=env_help("output format (default table)", "format")
    )
    rep.add_argument("--batch", metavar="ID", help="only runs whose latest attempt belongs to this batch")
    add_location_options(rep)
    rep.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Read every per-run store under the runs dir and print them in the chosen format."""
    settings = build_report_settings(flags=vars(args), environ=os.environ, cwd=Path.cwd())
    rows = report.collect_runs(settings.runs_dir, batch_id=settings.batch_id)
    if settings.format == "json":
        sys.stdout.write(report.render_json(rows) + "\n")
    else:
        console.print(report.render_table(rows))
    return EXIT_OK
