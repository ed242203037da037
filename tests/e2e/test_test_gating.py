"""Acceptance of test baselines through the CLI (issue #5): gating, flaky tests, unavailable reports."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import cli, git

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b  # bug: fails at base\n"
TESTS = (
    "from calc import add, sub\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_sub():\n    assert sub(5, 3) == 2\n"
)
# Each run edits calc.py according to its id: nothing, break add, fix sub.
AGENT = (
    'case "$PARALLEL_RUNS_RUN_ID" in '
    "breaks) sed -i 's/return a + b$/return a * b/' calc.py ;; "
    "fixes) sed -i 's/return a + b  # bug: fails at base/return a - b/' calc.py ;; "
    "esac"
)


@pytest.fixture
def project(make_repo: Callable[..., Path]) -> Path:
    return make_repo(
        files={"calc.py": CALC, "tests/test_calc.py": TESTS, "conftest.py": "", ".gitignore": "*.pyc\n"}
    )


def result(repo: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())
    return data


def pytest_command(counter: Path) -> str:
    count_baselines = f'[ "$PARALLEL_RUNS_TEST_PHASE" != baseline ] || echo b >> {counter}; '
    return count_baselines + f"{sys.executable} -m pytest -q -p no:cacheprovider --junitxml={{junit}} tests"


def test_baseline_delta_gates_the_runs(project: Path, tmp_path: Path) -> None:
    counter = tmp_path / "baselines"
    done = cli(
        "run",
        "--run-ids",
        "same,breaks,fixes",
        "--workers",
        "3",
        "--command",
        AGENT,
        "--test-command",
        pytest_command(counter),
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # one run regressed
    same, breaks, fixes = (result(project, slug) for slug in ("same", "breaks", "fixes"))
    assert same["status"] == "succeeded"
    assert same["tests"]["summary"] == "0"  # type: ignore[index]
    assert breaks["status"] == "regressed"
    assert breaks["tests"]["new_failures"] == ["tests/test_calc.py::test_add"]  # type: ignore[index]
    assert breaks["tests"]["severity"] == "low"  # type: ignore[index]
    assert fixes["status"] == "succeeded"
    assert fixes["tests"]["newly_passing"] == ["tests/test_calc.py::test_sub"]  # type: ignore[index]
    assert "regressed breaks (attempt 1, exit 0, " in done.stdout
    assert "1 file(s) changed, tests +1 \u22120, 0 flaky) \u2192 parallel-runs/breaks" in done.stdout
    assert "1 file(s) changed, tests +0 \u22121) \u2192 parallel-runs/fixes" in done.stdout
    assert counter.read_text().split() == ["b"]  # the baseline was computed once for the three runs
    for slug in ("same", "breaks", "fixes"):
        ci = project / ".autonomous_runs" / slug / "ci"
        assert {p.name for p in ci.glob("*.json")} >= {"baseline.json", "after.json", "delta.json"}
    markdown = cli("report", "--format", "markdown", cwd=project)
    assert markdown.returncode == 0, markdown.stderr
    failures = markdown.stdout.split("#### New test failures", 1)[1]
    assert "- `breaks`: 1 new test failure\n  - `tests/test_calc.py::test_add`: assert 6 == 5" in failures
    table = cli("report", cwd=project, env={"COLUMNS": "200"})
    assert "+1" in table.stdout


def test_no_fail_on_regression_only_reports(project: Path, tmp_path: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "breaks",
        "--command",
        AGENT,
        "--no-fail-on-regression",
        "--test-command",
        pytest_command(tmp_path / "n"),
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert result(project, "breaks")["status"] == "succeeded"
    assert result(project, "breaks")["tests"]["status"] == "regressed"  # type: ignore[index]


def test_a_test_failing_only_once_after_the_change_is_flaky(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    flaky = (
        "import os, pathlib\n\n\ndef test_flaky():\n"
        f"    marker = pathlib.Path({str(marker)!r})\n"
        "    if os.environ.get('PARALLEL_RUNS_TEST_PHASE') == 'after' and not marker.exists():\n"
        "        marker.write_text('x')\n"
        "        raise AssertionError('first invocation after the change')\n"
    )
    command = (
        f"cat > tests/test_flaky.py <<'PY'\n{flaky}PY\ngit add tests/test_flaky.py && git commit -qm flaky"
    )
    done = cli(
        "run",
        "--run-ids",
        "flaky",
        "--command",
        command,
        "--test-command",
        f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tests = result(project, "flaky")["tests"]
    assert tests["flaky"] == ["tests/test_flaky.py::test_flaky"]  # type: ignore[index]
    assert tests["new_failures"] == []  # type: ignore[index]


def test_a_test_command_without_a_report_is_judged_by_exit_status_and_must_pass_at_base(
    project: Path,
) -> None:
    args = ("run", "--run-ids", "noreport", "--command", "true", "--test-command")
    failing = "echo no-report-written-here; exit 1"
    for extra in ((), ("--allow-empty-baseline",)):  # the flag accepts an empty suite, never a failing one
        done = cli(*args, failing, *extra, cwd=project)
        assert done.returncode == 2, done.stdout + done.stderr
        [message] = done.stderr.splitlines()
        assert f"`{failing}` failed (exit 1) and wrote no per-test report at the base commit" in message
        assert "It printed: no-report-written-here. Fix: " in message
        assert not (project / ".autonomous_runs" / "noreport").exists()  # no run started
    passing = cli(*args, "echo no-report-written-here", cwd=project)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    tests = result(project, "noreport")["tests"]
    assert (tests["status"], tests["summary"]) == ("passed", "exit 0")  # type: ignore[index]


def test_a_collection_error_regresses_the_run(project: Path, tmp_path: Path) -> None:
    command = "printf 'def test_broken(:\\n' > tests/test_broken.py"
    done = cli(
        "run",
        "--run-ids",
        "syntax",
        "--command",
        command,
        "--test-command",
        pytest_command(tmp_path / "c"),
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert result(project, "syntax")["status"] == "regressed"
    assert any("test_broken" in t for t in result(project, "syntax")["tests"]["new_failures"])  # type: ignore[index]


JUNIT_BY_HAND = """#!/bin/sh
# A non-Python "runner": one test case, failing when add() was broken.
if grep -q 'return a \\* b' calc.py; then
  case='<testcase classname="shell" name="math"><failure message="add is broken"/></testcase>'
else
  case='<testcase classname="shell" name="math"/>'
fi
printf '<?xml version="1.0"?><testsuite name="sh" tests="1">%s</testsuite>' "$case" > "$PARALLEL_RUNS_JUNIT"
"""


def test_a_non_python_runner_writing_junit_by_hand(project: Path, tmp_path: Path) -> None:
    script = tmp_path / "run-tests.sh"
    script.write_text(JUNIT_BY_HAND)
    done = cli(
        "run",
        "--run-ids",
        "same,breaks",
        "--command",
        AGENT,
        "--test-command",
        f"sh {script}",
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert result(project, "same")["status"] == "succeeded"
    assert result(project, "breaks")["status"] == "regressed"
    assert result(project, "breaks")["tests"]["new_failures"] == ["shell::math"]  # type: ignore[index]


def test_a_broken_test_phase_still_saves_and_records_the_attempt(project: Path) -> None:
    runs_dir = project / ".autonomous_runs"
    (runs_dir / "broken").mkdir(parents=True)
    (runs_dir / "broken" / "ci").write_text("not a directory\n")  # the run's test results cannot be written
    done = cli(
        "run",
        "--run-ids",
        "broken",
        "--command",
        "echo kept > kept.txt",
        "--test-command",
        f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
        cwd=project,
        timeout=300,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    outcome = result(project, "broken")
    assert outcome["status"] == "failed"
    assert "could not finish the attempt" in str(outcome["error"])
    assert git(project, "show", "parallel-runs/broken:kept.txt") == "kept"
    assert not any((runs_dir / "workspaces").iterdir())
