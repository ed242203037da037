"""The job summary: counts, runs table, mermaid gantt and new failures, within GitHub's size caps."""

from __future__ import annotations

import dataclasses
import re

import pytest

from parallel_runs.core.model import Outcome, TestSummary
from parallel_runs.report import COMMENT_LIMITS, build_rows, render, render_summary
from parallel_runs.report.summary import render_gantt
from tests.unit.report.attempts import NASTY_IDS, T0, record

MIB = 1024 * 1024


def gantt_tasks(text: str) -> list[str]:
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if re.match(r"\s{4}\S.* :\w+, ", line)]


def test_the_summary_has_counts_a_table_a_gantt_and_new_failures() -> None:
    broken = dataclasses.replace(
        record("exp-2", 1, Outcome.REGRESSED, start=5),
        tests=TestSummary(status="regressed", summary="+1", new_failures=("tests/test_a.py::test_x",)),
    )
    rows = build_rows([record("exp-1", 1, Outcome.SUCCEEDED), broken, record("exp-3", 1, Outcome.SKIPPED)])
    text = render_summary(rows, title="parallel-runs · batch b1", now=T0)
    assert text.startswith("### parallel-runs · batch b1\n\n**3 runs**: ")
    assert "| `exp-2` | \U0001f4c9 regressed |" in text
    assert "#### New test failures\n\n- `exp-2`: `tests/test_a.py::test_x`" in text
    assert gantt_tasks(text) == [
        "exp-1 :done, 2026-03-04 05:06:07, 2026-03-04 05:06:17",
        "exp-2 :crit, 2026-03-04 05:06:12, 2026-03-04 05:06:22",
    ]  # the skipped run never ran: no bar
    assert "    section h\n" in text
    assert render(rows, "summary", title="parallel-runs · batch b1", now=T0) == text


def test_gantt_task_names_cannot_break_the_chart() -> None:
    rows = build_rows([record(run_id, 1, Outcome.FAILED) for run_id in [*NASTY_IDS, "title x", "a:b;c#d"]])
    for task in gantt_tasks(render_gantt(rows, now=T0)):
        name = task.split(" :", 1)[0]
        assert not set(name) & set(":;#`<>|*")
        assert name.split()[0].lower() not in ("title", "section")


def test_a_running_attempt_is_drawn_until_now_and_short_ones_last_a_second() -> None:
    rows = build_rows(
        [record("slow", 1, Outcome.RUNNING), record("quick", 1, Outcome.SUCCEEDED, seconds=0.2)]
    )
    tasks = gantt_tasks(render_gantt(rows, now=T0.replace(minute=7)))
    assert "quick :done, 2026-03-04 05:06:07, 2026-03-04 05:06:08" in tasks
    assert "slow :active, 2026-03-04 05:06:07, 2026-03-04 05:07:07" in tasks


def test_two_thousand_runs_still_render_under_the_summary_cap() -> None:
    records = [
        dataclasses.replace(
            record(
                f"run-{n:04d}-" + "x" * 100, 1, Outcome.FAILED if n % 7 == 0 else Outcome.SUCCEEDED, start=n
            ),
            error="E" * 2000,
            tests=TestSummary(
                status="regressed", summary="+30", new_failures=tuple(f"t{i}" * 50 for i in range(30))
            ),
        )
        for n in range(2000)
    ]
    rows = build_rows(records)
    text = render_summary(rows, now=T0)
    assert len(text.encode()) < MIB
    assert "_\u2026 and 1500 more runs_" in text
    assert "more runs not drawn" in text
    assert "more runs with new test failures" in text
    failed = [row.latest.run_id for row in rows if row.latest.outcome is Outcome.FAILED]
    assert all(f"`{run_id}`" in text for run_id in failed)  # cut rows are successes, never failures
    assert len(gantt_tasks(text)) == 200
    comment = render_summary(rows, now=T0, limits=COMMENT_LIMITS, footer="[more](https://x)")
    assert len(comment) < 65_536
    assert comment.endswith("[more](https://x)\n")


@pytest.mark.parametrize("max_bytes", [2_000, 50_000])
def test_the_text_is_cut_to_the_cap_whatever_the_limits(max_bytes: int) -> None:
    rows = build_rows([record(f"r{n}", 1, Outcome.FAILED, error="x" * 300) for n in range(300)])
    limits = dataclasses.replace(COMMENT_LIMITS, table_rows=10_000, errors=10_000, max_bytes=max_bytes)
    text = render_summary(rows, now=T0, limits=limits, footer="footer")
    assert len(text.encode()) <= max_bytes
    assert text.endswith("footer\n")


def test_no_rows_says_so() -> None:
    assert render_summary([], title="t", now=T0) == "### t\n\n_No runs found._\n"
