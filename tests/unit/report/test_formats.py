"""`render(rows, fmt)`: each format goes to its renderer, with the options it reads."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from parallel_runs.cli import report as cli_report
from parallel_runs.core.model import Outcome
from parallel_runs.report import (
    FORMATS,
    build_rows,
    render,
    render_html,
    render_json,
    render_markdown,
    render_table_text,
)
from tests.unit.report.attempts import T0, record

ROWS = build_rows([record("a", 1, Outcome.SUCCEEDED), record("b", 2, Outcome.RUNNING, start=5)])


def test_every_format_is_one_renderer_and_ends_in_a_newline() -> None:
    now = T0 + timedelta(minutes=1)
    assert render(ROWS, "table", width=80) == render_table_text(ROWS, width=80)
    assert render(ROWS, "json") == render_json(ROWS) + "\n"
    assert render(ROWS, "markdown", title="t <1>") == render_markdown(ROWS, title="t <1>")
    assert render(ROWS, "html", title="t", now=now) == render_html(ROWS, title="t", now=now)
    for fmt in FORMATS:
        assert render(ROWS, fmt, now=now).endswith("\n")
        assert render([], fmt, now=now).endswith("\n")
    assert json.loads(render([], "json")) == {"runs": [], "counts": {}}
    assert render([], "table", empty="none here") == "none here\n"


def test_an_unknown_format_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'csv' is not one of: table, json, markdown, html"):
        render(ROWS, "csv")


def test_the_cli_offers_exactly_the_formats_there_are() -> None:
    # The CLI spells them out so that `--help` does not import the renderers.
    assert cli_report.FORMATS == FORMATS
