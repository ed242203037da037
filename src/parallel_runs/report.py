"""One table of runs from every per-run store under a runs dir: rows, counts, table, JSON, markdown.

HTML lives in `report_html`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from rich.table import Table
from rich.text import Text

from parallel_runs.core.model import Outcome
from parallel_runs.errors import StoreError
from parallel_runs.store import AttemptRecord, RunStore

__all__ = [
    "MARKDOWN_SECTIONS",
    "STATUS_EMOJI",
    "RunRow",
    "build_rows",
    "collect_runs",
    "format_duration",
    "render_json",
    "render_markdown",
    "render_table",
    "summarize",
]

log = logging.getLogger(__name__)

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

STATUS_EMOJI: dict[Outcome, str] = {
    Outcome.SUCCEEDED: "\u2705",  # white heavy check mark
    Outcome.SKIPPED: "\u23ed\ufe0f",  # next track
    Outcome.FAILED: "\u274c",  # cross mark
    Outcome.REGRESSED: "\U0001f4c9",  # chart decreasing
    Outcome.TIMED_OUT: "\u23f1\ufe0f",  # stopwatch
    Outcome.CANCELLED: "\U0001f6ab",  # no entry sign
    Outcome.ABANDONED: "\U0001f47b",  # ghost
    Outcome.HELD: "\U0001f512",  # lock
    Outcome.RUNNING: "\u23f3",  # hourglass
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One run as the report shows it: its latest attempt, and how many attempts it had."""

    run_id: str
    slug: str
    batch_id: str
    status: Outcome
    attempts: int
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    branch: str
    head_sha: str | None
    error: str | None
    changed_files: int | None = None

    def to_json(self) -> dict[str, object]:
        """This row as a JSON-ready dict (ISO-8601 datetimes)."""
        return {
            "run_id": self.run_id,
            "slug": self.slug,
            "batch_id": self.batch_id,
            "status": self.status.value,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": None if self.duration_seconds is None else round(self.duration_seconds, 3),
            "branch": self.branch,
            "head_sha": self.head_sha,
            "error": self.error,
            "changed_files": self.changed_files,
        }


def build_rows(records: Iterable[AttemptRecord], *, batch_id: str | None = None) -> list[RunRow]:
    """One row per run from its latest attempt (within `batch_id` if given), sorted by run id."""
    by_run: dict[str, list[AttemptRecord]] = {}
    for record in records:
        if batch_id is None or record.batch_id == batch_id:
            by_run.setdefault(record.run_id, []).append(record)
    rows = []
    for run_id in sorted(by_run):
        attempts = by_run[run_id]
        latest = max(attempts, key=lambda record: record.attempt)
        rows.append(
            RunRow(
                run_id=run_id,
                slug=latest.slug,
                batch_id=latest.batch_id,
                status=latest.status,
                attempts=len(attempts),
                exit_code=latest.exit_code,
                started_at=latest.started_at,
                finished_at=latest.finished_at,
                duration_seconds=latest.duration_seconds,
                branch=latest.branch,
                head_sha=latest.head_sha,
                error=latest.error,
                changed_files=latest.changed_files,
            )
        )
    return rows


def _store_paths(runs_dir: Path) -> list[Path]:
    # Only <runs_dir>/<slug>/<slug>.db: worktrees, locks and leases never hold a store.
    try:
        children = list(runs_dir.iterdir())
    except OSError as exc:
        log.warning("cannot list runs dir %s: %s", runs_dir, exc)
        return []
    return sorted(
        child / f"{child.name}.db"
        for child in children
        if not child.name.startswith(".") and (child / f"{child.name}.db").is_file()
    )


def collect_runs(runs_dir: Path, *, batch_id: str | None = None) -> list[RunRow]:
    """Rows for every run recorded under `runs_dir`; unreadable stores are logged and skipped."""
    records: list[AttemptRecord] = []
    for path in _store_paths(runs_dir):
        try:
            with RunStore.open(path, create=False) as store:
                records.extend(store.attempts())
        except (StoreError, ValueError) as exc:  # ValueError: a status this version does not know
            log.warning("skipping unreadable store %s: %s", path, exc)
    return build_rows(records, batch_id=batch_id)


def summarize(rows: Iterable[RunRow]) -> dict[str, int]:
    """How many runs ended in each status, in the order statuses are declared."""
    seen: dict[Outcome, int] = {}
    for row in rows:
        seen[row.status] = seen.get(row.status, 0) + 1
    return {status.value: seen[status] for status in Outcome if status in seen}


def format_duration(seconds: float | None) -> str:
    """A short human duration: `4.2s`, `3m 05s`, `1h 02m`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _caption(rows: Sequence[RunRow]) -> str:
    counts = summarize(rows)
    noun = "run" if len(rows) == 1 else "runs"
    detail = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(rows)} {noun}" + (f": {detail}" if detail else "")


def render_table(rows: Sequence[RunRow]) -> Table:
    """A rich Table of the rows (the caller owns the Console that prints it)."""
    table = Table(title="parallel-runs", caption=_caption(rows))
    table.add_column("run", overflow="fold")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("exit", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("branch", overflow="fold")
    for row in rows:
        table.add_row(
            Text(row.run_id),  # Text, not str: run ids may contain [markup]
            Text(row.status.value, style=STATUS_STYLES.get(row.status, "")),
            str(row.attempts),
            "-" if row.exit_code is None else str(row.exit_code),
            format_duration(row.duration_seconds),
            Text(row.branch),
        )
    return table


def render_json(rows: Sequence[RunRow]) -> str:
    """Stable JSON: `{"runs": [...], "counts": {status: n}}`."""
    document = {"runs": [row.to_json() for row in rows], "counts": summarize(rows)}
    return json.dumps(document, indent=2, ensure_ascii=False)


# --- markdown (GitHub-flavoured; goes into job summaries and sticky PR comments) ---

_MD_ERROR_CHARS = 300
_MD_TEXT_SPECIALS = re.compile(r"([\\`*_\[\]~|])")


def _md_code(text: str) -> str:
    """`text` as an inline code span that is safe inside a GFM table cell.

    A code span shows `<`, `*`, `[`, `@`, `#` and URLs literally (no HTML, emphasis, links,
    mentions or autolinks); `|` still needs `\\|` because GFM splits cells before parsing inlines.
    """
    flat = " ".join(text.splitlines()) if text else ""
    if not flat:
        return "-"
    flat = flat.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    # One space each side is stripped by the renderer: pad so edge backticks/spaces survive.
    pad = " " if flat.strip() and (flat[0] in "` " or flat[-1] in "` ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _md_text(text: str) -> str:
    """Plain inline text with markdown and HTML made inert."""
    flat = " ".join(text.splitlines())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_TEXT_SPECIALS.sub(r"\\\1", flat)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


class _Column(NamedTuple):
    header: str
    align: str  # the delimiter-row cell: "---" left, "--:" right
    cell: Callable[[RunRow], str]


# Add a column (e.g. tests) by adding an entry here.
_MD_COLUMNS: tuple[_Column, ...] = (
    _Column("run", "---", lambda row: _md_code(row.run_id)),
    _Column("status", "---", lambda row: f"{STATUS_EMOJI.get(row.status, '')} {row.status.value}".strip()),
    _Column("attempts", "--:", lambda row: str(row.attempts)),
    _Column("exit", "--:", lambda row: _or_dash(row.exit_code)),
    _Column("duration", "--:", lambda row: format_duration(row.duration_seconds)),
    _Column("changed files", "--:", lambda row: _or_dash(row.changed_files)),
    _Column("branch", "---", lambda row: _md_code(row.branch)),
)


def _md_summary(rows: Sequence[RunRow]) -> str:
    noun = "run" if len(rows) == 1 else "runs"
    parts = [
        f"{STATUS_EMOJI.get(Outcome(status), '')} {count} {status}"
        for status, count in summarize(rows).items()
    ]
    return f"**{len(rows)} {noun}**: " + " \u00b7 ".join(parts)


def _md_table(rows: Sequence[RunRow]) -> str:
    lines = [
        "| " + " | ".join(column.header for column in _MD_COLUMNS) + " |",
        "|" + "|".join(column.align for column in _MD_COLUMNS) + "|",
    ]
    lines.extend("| " + " | ".join(column.cell(row) for column in _MD_COLUMNS) + " |" for row in rows)
    return "\n".join(lines)


def _md_errors(rows: Sequence[RunRow]) -> str:
    failing = [row for row in rows if row.error]
    if not failing:
        return ""
    lines = ["#### Errors", ""]
    for row in failing:
        error = " ".join((row.error or "").split())
        if len(error) > _MD_ERROR_CHARS:
            error = error[: _MD_ERROR_CHARS - 1] + "\u2026"
        lines.append(f"- {_md_code(row.run_id)}: {_md_code(error)}")
    return "\n".join(lines)


# Each section renders the (non-empty) rows to a markdown block, or "" to leave itself out.
MARKDOWN_SECTIONS: tuple[Callable[[Sequence[RunRow]], str], ...] = (_md_summary, _md_table, _md_errors)


def render_markdown(rows: Sequence[RunRow], *, title: str = "parallel-runs") -> str:
    """A GitHub-flavoured markdown report: heading, counts, one table row per run, errors."""
    blocks = [f"### {_md_text(title)}"]
    if rows:
        blocks.extend(block for section in MARKDOWN_SECTIONS if (block := section(rows)))
    else:
        blocks.append("_No runs found._")
    return "\n\n".join(blocks) + "\n"
