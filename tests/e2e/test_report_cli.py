"""Acceptance of `parallel-runs report` (issue #3 item 9): formats, --output, --batch, errors."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from tests.helpers import cli

COMMAND = 'echo "$PARALLEL_RUNS_RUN_ID" > out.txt; [ "$PARALLEL_RUNS_RUN_ID" != bad ]'


class Cells(HTMLParser):
    """The text of every table cell of a page, and how many script tags it has."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self.bars = 0
        self.scripts = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        self.scripts += tag == "script"
        self.bars += tag == "div" and "bar" in classes
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def make_two_batches(repo: Path) -> None:
    """Batch b1 with three runs (one fails, one has an awkward id), batch b2 with one."""
    first = cli("run", "--run-ids", "good,bad,<i>x|y</i>", "--batch-id", "b1", "--command", COMMAND, cwd=repo)
    assert first.returncode == 1, first.stdout + first.stderr
    second = cli("run", "--run-ids", "later", "--batch-id", "b2", "--command", COMMAND, cwd=repo)
    assert second.returncode == 0, second.stdout + second.stderr


def test_report_formats_and_batch_filter(repo: Path) -> None:
    make_two_batches(repo)
    every = ["<i>x|y</i>", "bad", "good", "later"]

    done = cli("report", "--format", "html", "-o", "reports/out.html", cwd=repo)
    assert done.returncode == 0, done.stderr
    written = repo / "reports" / "out.html"
    assert done.stdout == ""
    assert str(written) in done.stderr
    page = Cells()
    page.feed(written.read_text(encoding="utf-8"))
    for run_id in every:
        assert run_id in page.cells
    assert page.bars == len(every)
    assert page.scripts == 0

    done = cli("report", "--format", "markdown", cwd=repo)
    assert done.returncode == 0, done.stderr
    for run_id in ["`<i>x\\|y</i>`", "`bad`", "`good`", "`later`"]:
        assert f"| {run_id} |" in done.stdout
    assert "**4 runs**" in done.stdout

    done = cli("report", "--format", "json", "--batch", "b2", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert [run["run_id"] for run in json.loads(done.stdout)["runs"]] == ["later"]

    done = cli("report", "--format", "markdown", "--batch", "b1", cwd=repo)
    assert "| `later` |" not in done.stdout
    assert "**3 runs**: \u2705 2 succeeded \u00b7 \u274c 1 failed" in done.stdout

    done = cli("report", "--batch", "b2", cwd=repo)  # the table
    assert done.returncode == 0, done.stderr
    assert "later" in done.stdout
    assert "good" not in done.stdout


def test_report_on_an_empty_runs_dir_says_so(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    done = cli("report", "--runs-dir", str(runs_dir), cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"no runs found under {runs_dir}")
    done = cli("report", "--runs-dir", str(runs_dir), "--format", "json", cwd=tmp_path)
    assert (done.returncode, json.loads(done.stdout)["runs"]) == (0, [])
    for fmt in ("markdown", "html"):
        done = cli("report", "--runs-dir", str(runs_dir), "--format", fmt, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "No runs found." in done.stdout


def test_report_on_a_missing_runs_dir_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = cli("report", "--runs-dir", str(missing), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"parallel-runs: runs dir {missing} does not exist"]


def test_report_before_any_run_uses_the_default_runs_dir_and_says_no_runs(repo: Path) -> None:
    done = cli("report", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "no runs found" in done.stdout


def test_report_reads_its_output_and_batch_from_the_environment(repo: Path) -> None:
    make_two_batches(repo)
    env = {
        "PARALLEL_RUNS_REPORT_OUTPUT": "out/report.md",
        "PARALLEL_RUNS_BATCH_ID": "b2",
        "PARALLEL_RUNS_REPORT_FORMAT": "markdown",
    }
    done = cli("report", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    text = (repo / "out" / "report.md").read_text()
    assert "later" in text
    assert "good" not in text
