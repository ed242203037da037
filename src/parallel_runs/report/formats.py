"""`render(rows, fmt)`: one renderer per format, so a new format is one more entry here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from parallel_runs.core.urls import mask_url
from parallel_runs.report.html import render_html
from parallel_runs.report.json_format import render_json
from parallel_runs.report.markdown import render_markdown
from parallel_runs.report.rows import DEFAULT_TITLE, RunRow
from parallel_runs.report.summary import render_summary
from parallel_runs.report.table import NO_RUNS, render_table_text

__all__ = ["FORMATS", "RenderOptions", "render"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """What a renderer may use besides the rows; each format reads only the options it needs."""

    title: str = DEFAULT_TITLE  # markdown and HTML heading
    now: datetime | None = None  # HTML: generation time, and where running attempts end
    width: int | None = None  # table: columns of text (default: as many as it needs)
    empty: str = NO_RUNS  # table: the line shown instead of an empty table


_RENDERERS: dict[str, Callable[[Sequence[RunRow], RenderOptions], str]] = {
    "table": lambda rows, options: render_table_text(rows, width=options.width, empty=options.empty),
    "json": lambda rows, _options: render_json(rows) + "\n",
    "markdown": lambda rows, options: render_markdown(rows, title=options.title),
    "html": lambda rows, options: render_html(rows, title=options.title, now=options.now),
    "summary": lambda rows, options: render_summary(
        rows, title=options.title, now=options.now or datetime.now(UTC)
    ),
}

FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def render(
    rows: Sequence[RunRow],
    fmt: str,
    *,
    title: str = DEFAULT_TITLE,
    now: datetime | None = None,
    width: int | None = None,
    empty: str = NO_RUNS,
    redact: Callable[[str], str] = mask_url,
) -> str:
    """`rows` as one document in `fmt` (one of FORMATS), ending in a newline; ValueError otherwise.

    `redact` is the last net before the text leaves: the process's secrets (by default, every URL's
    password) are hidden whatever part of the rows held them.
    """
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"report format {fmt!r} is not one of: {', '.join(FORMATS)}") from None
    return redact(renderer(rows, RenderOptions(title=title, now=now, width=width, empty=empty)))
