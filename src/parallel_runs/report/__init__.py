"""The report: one row per run, and one renderer per format (table, json, markdown, html, summary).

`render(rows, fmt)` is the one way in; a new format (a job summary, a timeline) is one more
renderer module and one more entry in `formats`. The report only reads stores, never writes.
"""

from __future__ import annotations

from parallel_runs.report.formats import FORMATS, render
from parallel_runs.report.html import render_html
from parallel_runs.report.json_format import render_json
from parallel_runs.report.markdown import render_markdown
from parallel_runs.report.rows import (
    DEFAULT_TITLE,
    RunRow,
    build_rows,
    format_title,
    summarize,
)
from parallel_runs.report.summary import SUMMARY_LIMITS, SummaryLimits, render_summary
from parallel_runs.report.table import render_table, render_table_text

__all__ = [
    "DEFAULT_TITLE",
    "FORMATS",
    "SUMMARY_LIMITS",
    "RunRow",
    "SummaryLimits",
    "build_rows",
    "format_title",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "render_summary",
    "render_table",
    "render_table_text",
    "summarize",
]
