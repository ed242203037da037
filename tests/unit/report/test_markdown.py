"""The report as GitHub-flavoured markdown: one table row per run, everything escaped."""

from __future__ import annotations

import dataclasses
import re

from parallel_runs.core.model import Outcome, TestSummary
from parallel_runs.report import build_rows, render_markdown
from parallel_runs.report.markdown import MARKDOWN_LIMIT
from tests.unit.report.attempts import NASTY_IDS, record


def gfm_cells(line: str) -> list[str]:
    """Split a GFM table row the way cmark-gfm does: a pipe preceded by a backslash is not a border."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def code_span_text(cell: str) -> str:
    """The text a renderer shows for a cell that is exactly one code span (after GFM unescapes pipes)."""
    cell = cell.replace("\\|", "|")
    fence = re.match(r"`+", cell)
    assert fence, cell
    inner = cell[len(fence.group()) : -len(fence.group())]
    assert cell.endswith(fence.group())
    assert fence.group() not in inner.replace(fence.group() + "`", "")
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    return inner


def test_render_markdown_is_a_table_with_one_row_per_run_and_a_summary() -> None:
    rows = build_rows(
        [
            record("exp-001", 1, Outcome.SUCCEEDED),
            record("exp-002", 2, Outcome.FAILED, seconds=185),
            record("exp-003", 1, Outcome.RUNNING),
        ]
    )
    text = render_markdown(rows, title="parallel-runs")
    lines = text.splitlines()
    assert lines[0] == "### parallel-runs"
    assert "**3 runs**: \u23f3 1 running \u00b7 \u2705 1 succeeded \u00b7 \u274c 1 failed" in lines
    header = lines.index("| run | status | attempts | exit | duration | changed files | branch |")
    assert lines[header + 1] == "|---|---|--:|--:|--:|--:|---|"
    table = lines[header + 2 : header + 5]
    assert [gfm_cells(line) for line in table] == [
        ["`exp-001`", "\u2705 succeeded", "1", "0", "10.0s", "-", "`parallel-runs/exp-001`"],
        ["`exp-002`", "\u274c failed", "1", "1", "3m05s", "-", "`parallel-runs/exp-002`"],
        ["`exp-003`", "\u23f3 running", "1", "-", "-", "-", "`parallel-runs/exp-003`"],
    ]
    assert text == render_markdown(rows, title="parallel-runs")  # stable
    assert text.endswith("|\n")  # no errors section without errors


def test_render_markdown_escapes_run_ids_and_errors() -> None:
    rows = build_rows(
        [record(run_id, 1, Outcome.FAILED, error=f"boom | <b>{run_id}</b>\nline two") for run_id in NASTY_IDS]
    )
    text = render_markdown(rows, title="batch <x> | *y*")
    lines = text.splitlines()
    assert lines[0] == "### batch &lt;x&gt; \\| \\*y\\*"
    table = [line for line in lines if line.startswith("| ") and "failed" in line]
    assert len(table) == len(NASTY_IDS)
    for row, line in zip(rows, table, strict=True):
        cells = gfm_cells(line)
        assert len(cells) == 7, line
        assert code_span_text(cells[0]) == row.latest.run_id
    # Errors: one list item per run, newlines flattened, everything inside code spans.
    errors = lines[lines.index("#### Errors") + 2 :]
    assert len(errors) == len(NASTY_IDS)
    for item in errors:
        assert item.startswith("- `")
        assert "line two`" in item
    # Outside code spans no raw HTML survives.
    assert "<script>" not in re.sub(r"(`+).*?\1", "", text)


def test_render_markdown_truncates_long_errors_and_has_an_empty_state() -> None:
    [row] = build_rows([record("r", 1, Outcome.FAILED, error="x" * 5000)])
    item = render_markdown([row]).splitlines()[-1]
    assert len(item) < 400
    assert item.endswith("\u2026`")
    assert render_markdown([]) == "### parallel-runs\n\n_No runs found._\n"


def test_markdown_shows_a_tests_column_and_lists_new_failures_only_with_tests() -> None:
    plain = render_markdown(build_rows([record("a", 1, Outcome.SUCCEEDED)]))
    assert "| tests |" not in plain
    assert "New test failures" not in plain
    tested = dataclasses.replace(
        record("b", 1, Outcome.REGRESSED),
        tests=TestSummary(summary="+2 (1 flaky)", new_failures=("t::one", "t::two|x"), status="regressed"),
    )
    text = render_markdown(build_rows([record("a", 1, Outcome.SUCCEEDED), tested]))
    assert "| tests |" in text
    assert "+2 (1 flaky)" in text
    section = text.split("#### New test failures", 1)[1]
    assert "- `b`: 2 new test failures\n  - `t::one`\n  - `t::two|x`" in section  # no table: no escaping
    assert "`a`" not in section


def regressed(run_id: str, names: tuple[str, ...], *, error: str | None = None) -> object:
    messages = tuple(
        (name, f"AssertionError: assert {n} == {n + 1}\n  where ...") for n, name in enumerate(names)
    )
    tests = TestSummary(
        summary=f"+{len(names)}", status="regressed", new_failures=names, messages=messages[:20]
    )
    return dataclasses.replace(record(run_id, 1, Outcome.REGRESSED, error=error), tests=tests)


def test_five_hundred_new_failures_show_ten_with_messages_and_say_how_many_more() -> None:
    names = tuple(f"tests/test_signer.py::TestSigner::test_case_{n}[p-{n}]" for n in range(500))
    text = render_markdown(build_rows([regressed("break", names)]))
    assert len(text) < MARKDOWN_LIMIT
    lines = text.splitlines()
    with_message = [line for line in lines if line.startswith("  - `") and ": AssertionError" in line]
    assert with_message == [
        f"  - `{name}`: AssertionError: assert {n} == {n + 1}" for n, name in enumerate(names[:10])
    ]
    assert "  <details><summary>and 490 more</summary>" in lines
    assert lines[lines.index("  <details><summary>and 490 more</summary>") + 2] == f"  - `{names[10]}`"
    assert "  </details>" in lines
    assert "ci/delta.json lists them all" in text  # the collapsed list is capped, and says where the rest are


def test_the_whole_document_stays_under_the_limit_whatever_the_batch() -> None:
    names = tuple(f"tests/test_{n}.py::test_{'x' * 150}" for n in range(300))
    rows = build_rows([regressed(f"run-{n:04}", names, error="boom " * 200) for n in range(400)])
    text = render_markdown(rows)
    assert len(text) < MARKDOWN_LIMIT
    for section in ("| `run-0000` |", "#### New test failures", "#### Errors"):
        assert section in text  # every section keeps a share
    assert "more runs: `parallel-runs report` lists them all" in text
    assert "more runs with new failures" in text
    assert "more runs with errors" in text
    assert text.count("<details>") == text.count("</details>")  # no collapsed list cut open


def test_crashed_tests_say_why_in_the_failures_section() -> None:
    crashed = TestSummary(summary="crashed", status="tests_crashed", reason="exit 3: pytest's internal error")
    text = render_markdown(
        build_rows([dataclasses.replace(record("c", 1, Outcome.REGRESSED), tests=crashed)])
    )
    assert "| crashed |" in text
    assert "- `c`: tests crashed: `exit 3: pytest's internal error`" in text
