"""The report as GitHub-flavoured markdown: job summaries and sticky PR comments."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from parallel_runs.core.model import Outcome
from parallel_runs.report.rows import (
    DEFAULT_TITLE,
    STATUS_COLUMN,
    Column,
    RunRow,
    new_test_failures,
    summarize,
    visible_columns,
)

__all__ = ["MARKDOWN_SECTIONS", "STATUS_EMOJI", "render_markdown"]

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


def _md_summary(rows: Sequence[RunRow]) -> str:
    noun = "run" if len(rows) == 1 else "runs"
    parts = [
        f"{STATUS_EMOJI.get(status, '')} {count} {status.value}" for status, count in summarize(rows).items()
    ]
    return f"**{len(rows)} {noun}**: " + " \u00b7 ".join(parts)


def _md_cell(column: Column, row: RunRow) -> str:
    text = column.cell(row)
    if column is STATUS_COLUMN:
        return f"{STATUS_EMOJI.get(row.latest.outcome, '')} {text}".strip()
    return _md_code(text) if column.code else text


def _md_table(rows: Sequence[RunRow]) -> str:
    columns = visible_columns(rows)
    lines = [
        "| " + " | ".join(column.header for column in columns) + " |",
        "|" + "|".join("--:" if column.numeric else "---" for column in columns) + "|",
    ]
    lines.extend("| " + " | ".join(_md_cell(column, row) for column in columns) + " |" for row in rows)
    return "\n".join(lines)


def _md_errors(rows: Sequence[RunRow]) -> str:
    failing = [row for row in rows if row.latest.error or row.latest.error_tail]
    if not failing:
        return ""
    lines = ["#### Errors", ""]
    for row in failing:
        error = " ".join((row.latest.error or "").split())
        if len(error) > _MD_ERROR_CHARS:
            error = error[: _MD_ERROR_CHARS - 1] + "\u2026"
        said = f": {_md_code(error)}" if error else ": its last lines of output"
        lines.append(f"- {_md_code(row.latest.run_id)}{said}")
        if row.latest.error_tail:  # an indented code block inside the item: shown verbatim
            lines += ["", *(f"      {line}" for line in row.latest.error_tail.splitlines()), ""]
    return "\n".join(lines)


def _md_new_failures(rows: Sequence[RunRow]) -> str:
    broken = [(row, failures) for row in rows if (failures := new_test_failures(row))]
    if not broken:
        return ""
    lines = ["#### New test failures", ""]
    for row, failures in broken:
        lines.append(
            f"- {_md_code(row.latest.run_id)}: " + ", ".join(_md_code(test_id) for test_id in failures)
        )
    return "\n".join(lines)


# Each section renders the (non-empty) rows to a markdown block, or "" to leave itself out.
MARKDOWN_SECTIONS: tuple[Callable[[Sequence[RunRow]], str], ...] = (
    _md_summary,
    _md_table,
    _md_new_failures,
    _md_errors,
)


def render_markdown(rows: Sequence[RunRow], *, title: str = DEFAULT_TITLE) -> str:
    """A GitHub-flavoured markdown report: heading, counts, one table row per run, errors."""
    blocks = [f"### {_md_text(title)}"]
    if rows:
        blocks.extend(block for section in MARKDOWN_SECTIONS if (block := section(rows)))
    else:
        blocks.append("_No runs found._")
    return "\n\n".join(blocks) + "\n"
