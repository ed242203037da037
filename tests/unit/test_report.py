"""Report rows, counts, table, JSON, markdown and HTML; collect_runs over a real runs dir of SQLite stores."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from parallel_runs.core.model import Attempt, Outcome, TestSummary
from parallel_runs.report import (
    RunRow,
    build_rows,
    collect_runs,
    render_html,
    render_json,
    render_markdown,
    render_table,
    summarize,
)
from parallel_runs.report.html import Bar, timeline_bars
from parallel_runs.report.rows import format_duration
from parallel_runs.store import RunStore

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(
    run_id: str,
    attempt: int,
    status: Outcome,
    *,
    batch_id: str = "b1",
    seconds: float = 10,
    start: float = 0,
    error: str | None = None,
) -> Attempt:
    """An attempt record starting `start` s after T0; running attempts have no finish time."""
    started = T0 + timedelta(seconds=start)
    finished = None if status is Outcome.RUNNING else started + timedelta(seconds=seconds)
    return Attempt(
        run_id=run_id,
        slug=run_id,
        attempt=attempt,
        batch_id=batch_id,
        outcome=status,
        exit_code=None if finished is None else (0 if status is Outcome.SUCCEEDED else 1),
        started_at=started,
        finished_at=finished,
        base_sha="a" * 40,
        head_sha=None,
        branch=f"parallel-runs/{run_id}",
        host="h",
        pid=1,
        error=error,
    )


def test_build_rows_keeps_the_latest_attempt_and_counts_attempts() -> None:
    rows = build_rows(
        [
            record("b", 1, Outcome.SUCCEEDED),
            record("a", 2, Outcome.SUCCEEDED, seconds=5),
            record("a", 1, Outcome.FAILED),
        ]
    )
    assert [
        (r.latest.run_id, r.latest.outcome, r.attempts, r.latest.exit_code, r.latest.duration_seconds)
        for r in rows
    ] == [
        ("a", Outcome.SUCCEEDED, 2, 0, 5.0),
        ("b", Outcome.SUCCEEDED, 1, 0, 10.0),
    ]


def test_build_rows_filters_by_batch_before_choosing_the_latest() -> None:
    records = [record("a", 1, Outcome.FAILED, batch_id="b1"), record("a", 2, Outcome.RUNNING, batch_id="b2")]
    [row] = build_rows(records, batch_id="b1")
    assert (row.latest.outcome, row.attempts, row.latest.batch_id) == (Outcome.FAILED, 1, "b1")
    assert build_rows(records, batch_id="nope") == []


def test_summarize_counts_in_declaration_order() -> None:
    rows = build_rows(
        [record("x", 1, Outcome.FAILED), record("y", 1, Outcome.SUCCEEDED), record("z", 1, Outcome.FAILED)]
    )
    assert list(summarize(rows).items()) == [("succeeded", 1), ("failed", 2)]
    assert summarize([]) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (4.24, "4.2s"),
        (185, "3m05s"),
        (3720, "1h02m"),
        (90061, "25h01m"),
        (59.96, "1m00s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_render_json_round_trips() -> None:
    rows = build_rows([record("r1", 1, Outcome.SUCCEEDED), record("r2", 1, Outcome.RUNNING)])
    document = json.loads(render_json(rows))
    assert document["counts"] == {"running": 1, "succeeded": 1}
    first, second = document["runs"]
    assert first["run_id"] == "r1"
    assert first["status"] == "succeeded"
    assert datetime.fromisoformat(first["started_at"]) == T0
    assert datetime.fromisoformat(first["finished_at"]) == T0 + timedelta(seconds=10)
    assert first["duration_seconds"] == 10.0
    assert (second["finished_at"], second["duration_seconds"], second["exit_code"]) == (None, None, None)
    assert render_json(rows) == render_json(rows)
    assert json.loads(render_json([])) == {"runs": [], "counts": {}}


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


# --- collect_runs over real per-run stores ---


def write_store(runs_dir: Path, run_id: str, outcomes: list[Outcome], *, batch_id: str = "b1") -> None:
    """A per-run store at <runs_dir>/<slug>/<slug>.db with one attempt per outcome."""
    path = runs_dir / run_id / f"{run_id}.db"
    with RunStore.open(path) as store:
        for number, outcome in enumerate(outcomes, start=1):
            store.begin_attempt(
                run_id=run_id,
                slug=run_id,
                batch_id=batch_id,
                attempt=number,
                base_sha="a" * 40,
                branch=f"parallel-runs/{run_id}",
                host="h",
                pid=1,
                started_at=T0,
            )
            if outcome is not Outcome.RUNNING:
                store.finish_attempt(
                    Attempt(
                        run_id=run_id,
                        slug=run_id,
                        batch_id=batch_id,
                        attempt=number,
                        outcome=outcome,
                        exit_code=0 if outcome is Outcome.SUCCEEDED else 1,
                        started_at=T0,
                        finished_at=T0 + timedelta(seconds=number),
                        base_sha="a" * 40,
                        head_sha="c" * 40,
                        branch=f"parallel-runs/{run_id}",
                        host="h",
                        pid=1,
                    )
                )


def test_collect_runs_reads_every_store_and_skips_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs_dir = tmp_path / "runs"
    write_store(runs_dir, "run-c", [Outcome.RUNNING])
    write_store(runs_dir, "run-a", [Outcome.FAILED, Outcome.SUCCEEDED])
    write_store(runs_dir, "run-b", [Outcome.FAILED], batch_id="b2")
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "broken.db").write_bytes(b"not sqlite at all " * 100)
    # Stores anywhere but <slug>/<slug>.db are not the report's business.
    write_store(runs_dir / "workspaces", "x", [Outcome.SUCCEEDED])
    (runs_dir / ".locks").mkdir()
    (runs_dir / ".locks" / "run-a.lock").write_text("{}")
    (runs_dir / "run-a" / "run.log").write_text("output\n")
    (runs_dir / "stray").mkdir()
    (runs_dir / "stray" / "other.db").write_bytes(b"")

    with caplog.at_level(logging.WARNING, logger="parallel_runs.report.rows"):
        rows = collect_runs(runs_dir)

    assert [(r.latest.run_id, r.latest.outcome, r.attempts, r.latest.exit_code) for r in rows] == [
        ("run-a", Outcome.SUCCEEDED, 2, 0),
        ("run-b", Outcome.FAILED, 1, 1),
        ("run-c", Outcome.RUNNING, 1, None),
    ]
    assert rows[0] == RunRow(
        Attempt(
            run_id="run-a",
            slug="run-a",
            batch_id="b1",
            attempt=2,
            outcome=Outcome.SUCCEEDED,
            exit_code=0,
            started_at=T0,
            finished_at=T0 + timedelta(seconds=2),
            base_sha="a" * 40,
            head_sha="c" * 40,
            branch="parallel-runs/run-a",
            host="h",
            pid=1,
        ),
        attempts=2,
    )
    assert rows[0].latest.duration_seconds == 2.0
    assert "broken.db" in caplog.text
    assert [r.latest.run_id for r in collect_runs(runs_dir, batch_id="b2")] == ["run-b"]
    assert sorted(p.name for p in (runs_dir / "run-a").iterdir()) == ["run-a.db", "run.log"]


def test_collect_runs_on_a_missing_dir_is_empty(tmp_path: Path) -> None:
    assert collect_runs(tmp_path / "nothing-here") == []


# --- markdown ---

NASTY_IDS = ["plain", "pipe|in|id", "<script>alert(1)</script>", "tick`s``", " *emph* [link](x) @octocat "]


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


# --- html ---


class Page(HTMLParser):
    """Records what the checks below need from an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.cells: list[str] = []
        self.bars: list[dict[str, str]] = []
        self.style_text = ""
        self._cell: list[str] | None = None
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if tag == "td":
            self._cell = []
        if tag == "style":
            self._in_style = True
        if tag == "div" and "bar" in attributes.get("class", "").split():
            self.bars.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_style:
            self.style_text += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def percent(style: str, name: str) -> float:
    found = re.search(rf"(?:^|;)\s*{name}\s*:\s*([0-9.]+)%", style)
    assert found, style
    return float(found.group(1))


def test_render_html_shows_every_run_with_a_timeline_bar_and_no_urls() -> None:
    rows = build_rows(
        [
            record("a", 1, Outcome.SUCCEEDED, start=0, seconds=10),
            record("b", 1, Outcome.FAILED, start=5, seconds=15, error="exit 1 <oops>"),
            record("c", 1, Outcome.RUNNING, start=10),
            *[record(run_id, 1, Outcome.TIMED_OUT, start=2, seconds=3) for run_id in NASTY_IDS],
        ]
    )
    text = render_html(rows, title="report <b>", now=T0 + timedelta(seconds=40))
    page = parse(text)
    for row in rows:
        assert row.latest.run_id in page.cells
    assert "exit 1 <oops>" in "".join(page.cells)
    assert len(page.bars) == len(rows)
    for bar in page.bars:
        left, width = percent(bar["style"], "left"), percent(bar["style"], "width")
        assert 0 <= left < 100, bar
        assert 0 < width <= 100 - left + 0.01, bar
    # c runs from 10 s to "now" (40 s): the window is 0..40 s.
    by_title = {bar["title"].split(":")[0]: bar["style"] for bar in page.bars}
    assert percent(by_title["c"], "left") == 25.0
    assert percent(by_title["c"], "width") == 75.0
    # The escaped run id never becomes a tag; no script anywhere.
    assert [tag for tag, _ in page.tags].count("script") == 0
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>" not in text
    # Nothing refers to the network.
    for _, attributes in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            assert name not in attributes
        assert "url(" not in attributes.get("style", "")
    assert "url(" not in page.style_text
    assert "@import" not in page.style_text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", text)
    # Counts per status and generation time.
    assert "generated 2026-03-04 05:06:47 UTC" in text
    for status, count in summarize(rows).items():
        assert f">{status} {count}</li>" in text


def test_render_html_empty_state() -> None:
    page = parse(render_html([], title="nothing", now=T0))
    assert page.cells == []
    assert page.bars == []
    assert ("p", {"class": "empty"}) in page.tags


def test_timeline_bars_are_relative_to_the_batch_window() -> None:
    rows = build_rows(
        [
            record("a", 1, Outcome.SUCCEEDED, start=0, seconds=10),
            record("b", 1, Outcome.FAILED, start=5, seconds=15),
        ]
    )
    assert timeline_bars(rows) == [Bar(0.0, 50.0), Bar(25.0, 75.0)]
    # A running attempt without `now` ends at the latest known time; with it, at `now`.
    running = build_rows(
        [record("a", 1, Outcome.SUCCEEDED, seconds=20), record("b", 1, Outcome.RUNNING, start=10)]
    )
    assert timeline_bars(running) == [Bar(0.0, 100.0), Bar(50.0, 50.0)]
    assert timeline_bars(running, now=T0 + timedelta(seconds=40)) == [Bar(0.0, 50.0), Bar(25.0, 75.0)]
    # A zero-length batch and a tiny run still draw something.
    assert timeline_bars(build_rows([record("a", 1, Outcome.SUCCEEDED, seconds=0)])) == [Bar(0.0, 100.0)]
    tiny = build_rows(
        [
            record("a", 1, Outcome.SUCCEEDED, seconds=3600),
            record("b", 1, Outcome.SUCCEEDED, start=3600, seconds=0),
        ]
    )
    assert timeline_bars(tiny)[1] == Bar(99.5, 0.5)
    assert timeline_bars([]) == []


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
    assert "`b`: `t::one`, `t::two\\|x`" in section
    assert "`a`" not in section


def test_html_shows_a_tests_column_and_new_failures_only_with_tests() -> None:
    assert "<th>tests</th>" not in render_html(build_rows([record("a", 1, Outcome.SUCCEEDED)]), title="t")
    tested = dataclasses.replace(
        record("b", 1, Outcome.REGRESSED),
        tests=TestSummary(summary="+1", new_failures=("t::<broken>",), status="regressed"),
    )
    page = render_html(build_rows([record("a", 1, Outcome.SUCCEEDED), tested]), title="t")
    assert "<th>tests</th>" in page
    assert "new test failures: t::&lt;broken&gt;" in page
