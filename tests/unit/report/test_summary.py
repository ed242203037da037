"""The job summary: the markdown report with a mermaid gantt after the table, under 1 MiB."""

from __future__ import annotations

import dataclasses
import re

from parallel_runs.core.model import Outcome, TestSummary
from parallel_runs.report import SummaryLimits, build_rows, render, render_markdown, render_summary
from parallel_runs.report.summary import render_gantt
from tests.unit.report.attempts import NASTY_IDS, T0, record

MIB = 1024 * 1024


def gantt_tasks(text: str) -> list[str]:
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if re.match(r"\s{4}\S.* :\w+, ", line)]


def test_the_summary_is_the_markdown_report_with_a_timeline_after_the_table() -> None:
    broken = dataclasses.replace(
        record("exp-2", 1, Outcome.REGRESSED, start=5),
        tests=TestSummary(status="regressed", summary="+1", new_failures=("tests/test_a.py::test_x",)),
    )
    rows = build_rows([record("exp-1", 1, Outcome.SUCCEEDED), broken, record("exp-3", 1, Outcome.SKIPPED)])
    text = render_summary(rows, title="parallel-runs · batch b1", now=T0)
    markdown = render_markdown(rows, title="parallel-runs · batch b1")
    table_end = markdown.index("#### New test failures")
    assert text.startswith(markdown[:table_end])  # heading, counts and table as in the markdown report
    assert text.index("```mermaid") < text.index("#### New test failures")
    assert "tests/test_a.py::test_x" in text
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
                f"run-{n:04d}-" + "\u00fc" * 100,
                1,
                Outcome.FAILED if n % 7 == 0 else Outcome.SUCCEEDED,
                start=n,
            ),
            error="E" * 2000,
            tests=TestSummary(
                status="regressed", summary="+30", new_failures=tuple(f"t{i}" * 50 for i in range(30))
            ),
        )
        for n in range(2000)
    ]
    rows = build_rows(records)
    text = render_summary(rows, now=T0, footer="[the run](https://x)")
    assert len(text.encode()) < MIB
    assert text.endswith("[the run](https://x)\n")
    assert len(gantt_tasks(text)) == 200
    assert "_\u2026 and 1800 more runs not drawn._" in text
    failed_drawn = [task for task in gantt_tasks(text) if ":crit," in task]
    assert len(failed_drawn) == 200  # the runs that did not succeed are drawn first
    assert text.count("| `run-") < 2000  # the table is cut, and says so
    assert "more runs: `parallel-runs report` lists them all" in text


def test_the_cap_is_in_bytes_whatever_the_characters() -> None:
    rows = build_rows(
        [record("\U0001f600" * 60 + f"-{n}", 1, Outcome.FAILED, error="\u00e9" * 300) for n in range(300)]
    )
    limits = SummaryLimits(max_chars=50_000, max_bytes=20_000)
    text = render_summary(rows, now=T0, limits=limits, footer="footer")
    assert len(text.encode()) <= 20_000
    assert text.endswith("footer\n")


def test_no_rows_says_so() -> None:
    assert render_summary([], title="t", now=T0) == "### t\n\n_No runs found._\n"
