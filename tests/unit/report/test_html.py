"""The report as one self-contained HTML page with a timeline bar per run."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from html.parser import HTMLParser

from parallel_runs.core.model import Outcome, TestSummary
from parallel_runs.report import build_rows, render_html, summarize
from tests.unit.report.attempts import NASTY_IDS, T0, record


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


def test_html_shows_a_tests_column_and_new_failures_only_with_tests() -> None:
    assert "<th>tests</th>" not in render_html(build_rows([record("a", 1, Outcome.SUCCEEDED)]), title="t")
    tested = dataclasses.replace(
        record("b", 1, Outcome.REGRESSED),
        tests=TestSummary(summary="+1", new_failures=("t::<broken>",), status="regressed"),
    )
    page = render_html(build_rows([record("a", 1, Outcome.SUCCEEDED), tested]), title="t")
    assert "<th>tests</th>" in page
    assert "<summary>1 new test failure</summary><ul><li><code>t::&lt;broken&gt;</code></li></ul>" in page


def test_html_shows_ten_failures_with_messages_and_collapses_the_rest() -> None:
    names = tuple(f"tests/t.py::test_{n}" for n in range(500))
    tests = TestSummary(
        summary="+500",
        status="regressed",
        new_failures=names,
        messages=tuple((name, f"assert {n} <b>\nsecond line") for n, name in enumerate(names[:20])),
    )
    page = render_html(
        build_rows([dataclasses.replace(record("b", 1, Outcome.REGRESSED), tests=tests)]), title="t"
    )
    assert page.count('<div class="msg">') == 10
    assert '<div class="msg">assert 9 &lt;b&gt;</div>' in page
    assert "<details><summary>and 490 more</summary>" in page
    assert page.count("<li><code>") == 10 + 200  # the collapsed list is capped too
    assert "\u2026 and 290 more" in page


def test_html_says_why_tests_crashed() -> None:
    crashed = TestSummary(summary="crashed", status="tests_crashed", reason="exit 4: pytest's <usage> error")
    row = dataclasses.replace(record("c", 1, Outcome.REGRESSED), tests=crashed)
    page = render_html(build_rows([row]), title="t")
    assert "tests crashed: exit 4: pytest&#39;s &lt;usage&gt; error" in page  # Jinja2's escape of '
