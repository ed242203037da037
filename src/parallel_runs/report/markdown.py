"""The report as GitHub-flavoured markdown: job summaries and sticky PR comments.

A comment body holds 65,536 characters, so the whole document stays under MARKDOWN_LIMIT whatever
the batch: each run shows its first SHOWN_FAILURES new test failures with a one-line message, the
rest collapsed ("and N more"), and any section too long for its share is cut, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from parallel_runs.core.model import Outcome
from parallel_runs.report.budget import Block, fit
from parallel_runs.report.rows import (
    DEFAULT_TITLE,
    PULL_COLUMN,
    SHOWN_FAILURES,
    STATUS_COLUMN,
    TITLE_COLUMN,
    Column,
    RunRow,
    summarize,
    test_failures,
    tests_problem,
    visible_columns,
    web_link,
)

__all__ = [
    "MARKDOWN_LIMIT",
    "MARKDOWN_SECTIONS",
    "STATUS_EMOJI",
    "markdown_heading",
    "md_code",
    "md_text",
    "render_markdown",
]

MARKDOWN_LIMIT = 60_000  # characters of the whole document
_NAME_CHARS = 200  # a test name shown at most this long
_MESSAGE_CHARS = 150  # a failure's one-line message
_COLLAPSED_CHARS = 4_000  # the collapsed list of one run's other failures

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


def _md_code(text: str, *, in_table: bool = True) -> str:
    """`text` as an inline code span that is safe inside a GFM table cell (or, `in_table=False`, a list).

    A code span shows `<`, `*`, `[`, `@`, `#` and URLs literally (no HTML, emphasis, links,
    mentions or autolinks); in a table `|` still needs `\\|` because GFM splits cells before
    parsing inlines (outside one, the backslash would show).
    """
    flat = " ".join(text.splitlines()) if text else ""
    if not flat:
        return "-"
    flat = flat.replace("|", "\\|") if in_table else flat
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    # One space each side is stripped by the renderer: pad so edge backticks/spaces survive.
    pad = " " if flat.strip() and (flat[0] in "` " or flat[-1] in "` ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _md_text(text: str) -> str:
    """Plain inline text with markdown and HTML made inert."""
    flat = " ".join(text.splitlines())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_TEXT_SPECIALS.sub(r"\\\1", flat)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _md_summary(rows: Sequence[RunRow]) -> Block:
    noun = "run" if len(rows) == 1 else "runs"
    parts = [
        f"{STATUS_EMOJI.get(status, '')} {count} {status.value}" for status, count in summarize(rows).items()
    ]
    return Block("", [f"**{len(rows)} {noun}**: " + " \u00b7 ".join(parts)], lambda _n: "")


def _md_cell(column: Column, row: RunRow) -> str:
    text = column.cell(row)
    if column is STATUS_COLUMN:
        return f"{STATUS_EMOJI.get(row.latest.outcome, '')} {text}".strip()
    if column is TITLE_COLUMN:  # the user's text: markdown and HTML made inert
        return _md_text(_cut(text, 80))
    pull = row.latest.pull_request
    if column is PULL_COLUMN and pull and (url := web_link(pull.url)):  # no `(`, `)`, `]` or `|` in it
        return f"[{text}]({url})"
    return _md_code(text) if column.code else text


def _md_table(rows: Sequence[RunRow]) -> Block:
    columns = visible_columns(rows)
    head = "\n".join(
        [
            "| " + " | ".join(column.header for column in columns) + " |",
            "|" + "|".join("--:" if column.numeric else "---" for column in columns) + "|",
        ]
    )
    lines = ["| " + " | ".join(_md_cell(column, row) for column in columns) + " |" for row in rows]
    return Block(
        head, lines, lambda n: f"\n_\u2026 and {n} more runs: `parallel-runs report` lists them all._"
    )


def _md_errors(rows: Sequence[RunRow]) -> Block | None:
    failing = [row for row in rows if row.latest.error or row.latest.error_tail]
    if not failing:
        return None
    lines = []
    for row in failing:
        error = _cut(" ".join((row.latest.error or "").split()), _MD_ERROR_CHARS)
        said = f": {_md_code(error)}" if error else ": its last lines of output"
        item = f"- {_md_code(row.latest.run_id)}{said}"
        if row.latest.error_tail:  # an indented code block inside the item: shown verbatim
            item = "\n".join(
                [item, "", *(f"      {line}" for line in row.latest.error_tail.splitlines()), ""]
            )
        lines.append(item)
    return Block("#### Errors\n", lines, lambda n: f"- \u2026 and {n} more runs with errors")


def _md_failure(name: str, message: str) -> str:
    first = message.splitlines()[0] if message else ""
    text = f": {_md_text(_cut(first, _MESSAGE_CHARS))}" if first else ""
    return f"  - {_md_code(_cut(name, _NAME_CHARS), in_table=False)}{text}"


def _md_run_failures(row: RunRow) -> str | None:
    """One run's block: why its tests crashed, or its first new failures, the rest collapsed."""
    run = _md_code(row.latest.run_id, in_table=False)
    if (problem := tests_problem(row)) is not None:
        return f"- {run}: {problem[0]}: {_md_code(_cut(problem[1], 300), in_table=False)}"
    failures = test_failures(row)
    if not failures:
        return None
    noun = "failure" if len(failures) == 1 else "failures"
    lines = [f"- {run}: {len(failures)} new test {noun}"]
    lines += [_md_failure(name, message) for name, message in failures[:SHOWN_FAILURES]]
    rest = [
        f"  - {_md_code(_cut(name, _NAME_CHARS), in_table=False)}" for name, _ in failures[SHOWN_FAILURES:]
    ]
    if rest:
        collapsed = Block(
            f"\n  <details><summary>and {len(rest)} more</summary>\n",
            rest,
            lambda n: f"  - \u2026 and {n} more: the run's ci/delta.json lists them all",
        )
        lines += [collapsed.render(_COLLAPSED_CHARS), "\n  </details>\n"]
    return "\n".join(lines)


def _md_new_failures(rows: Sequence[RunRow]) -> Block | None:
    blocks = [block for row in rows if (block := _md_run_failures(row))]
    if not blocks:
        return None
    return Block(
        "#### New test failures\n", blocks, lambda n: f"- \u2026 and {n} more runs with new failures"
    )


# Each section renders the (non-empty) rows to a block of markdown, or None to leave itself out.
MARKDOWN_SECTIONS: tuple[Callable[[Sequence[RunRow]], Block | None], ...] = (
    _md_summary,
    _md_table,
    _md_new_failures,
    _md_errors,
)


def md_code(text: str) -> str:
    """A code span showing `text` verbatim, outside a table."""
    return _md_code(text, in_table=False)


def md_text(text: str) -> str:
    """Plain inline text with markdown and HTML made inert."""
    return _md_text(text)


def markdown_heading(title: str) -> str:
    """The report's heading line, its markdown made inert."""
    return f"### {_md_text(_cut(title, 200))}"


def render_markdown(
    rows: Sequence[RunRow],
    *,
    title: str = DEFAULT_TITLE,
    limit: int = MARKDOWN_LIMIT,
    timeline: Block | None = None,
) -> str:
    """A GitHub-flavoured markdown report of at most `limit` characters: heading, counts, one table
    row per run, (the job summary's `timeline`), new test failures, errors."""
    heading = markdown_heading(title)
    if not rows:
        return f"{heading}\n\n_No runs found._\n"
    blocks = [block for section in MARKDOWN_SECTIONS if (block := section(rows))]
    if timeline is not None:
        blocks.insert(min(2, len(blocks)), timeline)
    return "\n\n".join([heading, *fit(blocks, limit - len(heading) - 3)]) + "\n"
