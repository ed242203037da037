"""The report as a terminal table, and as plain text."""

from __future__ import annotations

from rich.console import Console

from parallel_runs.core.model import Outcome
from parallel_runs.report import build_rows, render_table, render_table_text
from tests.unit.report.attempts import record


def test_render_table_shows_every_run_and_status() -> None:
    rows = build_rows(
        [
            record("exp-001", 1, Outcome.SUCCEEDED),
            record("exp-[bold]002", 1, Outcome.TIMED_OUT),
            record("exp-003", 3, Outcome.REGRESSED),
        ]
    )
    console = Console(record=True, width=120)
    console.print(render_table(rows))
    text = console.export_text()
    for row in rows:
        assert row.latest.run_id in text
        assert row.latest.outcome.value in text
    assert "3 runs: 1 succeeded, 1 regressed, 1 timed_out" in text


def test_render_table_text_is_plain_text_of_the_given_width_or_the_empty_line() -> None:
    rows = build_rows([record("exp-[bold]001", 1, Outcome.FAILED)])
    text = render_table_text(rows, width=90)
    assert "\x1b[" not in text
    assert "exp-[bold]001" in text
    assert max(len(line) for line in text.splitlines()) <= 90
    assert text.rstrip().endswith("1 run: 1 failed")
    assert render_table_text([], empty="nothing [here]") == "nothing [here]\n"
