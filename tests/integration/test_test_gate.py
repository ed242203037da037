"""The test gate through the engine (issue #10): any natural test command judges, and a run whose
tests crashed, vanished or never ran is never "succeeded". Real git, real pytest, in-memory records."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from parallel_runs import batch as engine
from parallel_runs.batch import BatchResult, RunSummary
from parallel_runs.config import WorkerSettings
from parallel_runs.core.batch import BatchRequest
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError
from parallel_runs.report import build_rows, render_markdown
from parallel_runs.store import MemoryStore
from tests import signy
from tests.helpers import git


@pytest.fixture
def project(make_repo: Callable[..., Path]) -> Path:
    repo = make_repo("signy", signy.FILES)
    signy.make_executable(repo)
    git(repo, "commit", "-qam", "scripts/test.sh is executable")
    return repo


def run_batch(
    repo: Path, command: str, tests: str | TestSpec, *, run_ids: tuple[str, ...] = ("break",), **env: str
) -> BatchResult:
    """A batch of `run_ids` through the engine, judged by `tests` (a test command, or a whole spec)."""
    machine = WorkerSettings(
        batch_id="b1",
        repo=repo,
        runs_dir=repo / ".autonomous_runs",
        workers=len(run_ids),
        keep_worktrees=False,
        environ=signy.environment(**env),
    )
    request = BatchRequest(
        batch_id=machine.batch_id,
        run_ids=run_ids,
        command=sh(command),
        timeout=None,
        grace=1.0,
        base_ref="HEAD",
        tests=tests if isinstance(tests, TestSpec) else TestSpec(command=sh(tests), timeout=120),
    )
    return engine.run(request, machine, engine.BatchControl(grace=1.0), store=MemoryStore())


def sh(text: str) -> CommandSpec:
    return CommandSpec(shell=text)


def final(result: BatchResult, run_id: str) -> Attempt:
    [end] = [end for end in result.ends if end.run_id == run_id]
    assert isinstance(end, RunSummary), end
    return end.final


# Finding 2 of the issue: each of these judged nothing, and the breaking run ended `succeeded`.
FORMS = {
    "PYTHONPATH=src pytest": {},
    "PYTHONPATH=src python -m pytest -q": {},
    "env PYTHONPATH=src pytest -q": {},
    "export PYTHONPATH=src; pytest -q": {},
    "make test": {},
    "scripts/test.sh": {},
    "sh scripts/test.sh": {},
    # PYTHONPATH=src in the batch's environment: relative entries resolve inside each run's worktree.
    "pytest -q --junitxml=report.xml": {"PYTHONPATH": "src"},
}


@pytest.mark.parametrize(("test_command", "env"), FORMS.items(), ids=list(FORMS))
def test_the_breaking_run_regresses_under_every_natural_test_command(
    project: Path, test_command: str, env: dict[str, str]
) -> None:
    result = run_batch(project, signy.BREAK_SIGNER, test_command, **env)
    assert result.exit_code == 1
    attempt = final(result, "break")
    assert attempt.outcome is Outcome.REGRESSED
    assert attempt.tests is not None
    assert attempt.tests.status == "regressed"
    assert attempt.tests.new_failures == signy.BROKEN  # node ids, as pytest names them
    assert dict(attempt.tests.messages)[signy.BROKEN[0]] == "Failed: DID NOT RAISE BadSignature"
    # The run's change is what its command did: test by-products (report.xml) are not on its branch.
    assert attempt.changed_files == 1
    assert (
        git(project, "diff", "--name-only", f"{attempt.base_sha}..parallel-runs/break")
        == "src/signy/signer.py"
    )
    assert (
        git(project, "log", "-1", "--format=%s", "parallel-runs/break")
        == "parallel-runs: break attempt 1 regressed"
    )
    assert git(project, "rev-list", "--count", f"{attempt.base_sha}..parallel-runs/break") == "1"


def test_a_run_that_makes_pytest_crash_is_regressed_with_tests_crashed(project: Path) -> None:
    command = (
        'case "$PARALLEL_RUNS_RUN_ID" in '
        "conftest) echo 'import nonexistent_mod' > tests/conftest.py ;; "
        "internal) printf 'def pytest_collection_modifyitems(items):\\n    raise RuntimeError(1)\\n' "
        "> tests/conftest.py ;; "
        "nothing) rm -r tests ;; "
        "esac"
    )
    result = run_batch(
        project, command, "PYTHONPATH=src pytest -q", run_ids=("conftest", "internal", "nothing", "same")
    )
    assert result.exit_code == 1
    crashed = {run_id: final(result, run_id) for run_id in ("conftest", "internal", "nothing")}
    for attempt in crashed.values():
        assert attempt.outcome is Outcome.REGRESSED
        assert attempt.tests is not None
        assert attempt.tests.status == "tests_crashed"
        assert attempt.tests.summary == "crashed"
    reasons = {run_id: attempt.tests.reason for run_id, attempt in crashed.items() if attempt.tests}
    assert str(reasons["conftest"]).startswith("exit 4: pytest's usage error")
    assert reasons["internal"] == "exit 3: pytest's internal error (INTERNALERROR)"
    assert reasons["nothing"] == "exit 5: no test ran, the baseline ran 8"
    assert final(result, "same").outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("test_command", "what", "fix"),
    [
        ("pytset -q", "was not found (exit 127)", "check its spelling"),
        (
            "pytest -q",
            "collected no test (exit 2, 1 collection error(s): ModuleNotFoundError",
            "PYTHONPATH=src",
        ),
        (
            "PYTHONPATH=src pytest -q -k nothing_matches",
            "collected no test (exit 5)",
            "--allow-empty-baseline",
        ),
        ("false", "failed (exit 1) and wrote no per-test report", "make the test command pass"),
    ],
)
def test_a_baseline_that_cannot_judge_stops_the_batch_before_any_run(
    project: Path, test_command: str, what: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as stopped:
        run_batch(project, "touch started", test_command)
    message = str(stopped.value)
    assert stopped.value.exit_code == 2
    assert what in message
    assert fix in message
    assert "\n" not in message
    assert not (project / ".autonomous_runs" / "break").exists()  # no run started
    assert "parallel-runs/break" not in git(project, "branch", "--list")


def test_allow_empty_baseline_starts_a_batch_on_an_empty_suite(project: Path) -> None:
    spec = TestSpec(command=sh("PYTHONPATH=src pytest -q -k nothing"), allow_empty_baseline=True)
    result = run_batch(project, "true", spec, run_ids=("r",))
    assert result.exit_code == 0
    attempt = final(result, "r")
    assert attempt.tests is not None
    assert (attempt.outcome, attempt.tests.status, attempt.tests.summary) == (
        Outcome.SUCCEEDED,
        "passed",
        "0",
    )


GRADLE_LIKE = """#!/bin/sh
# A runner that is not pytest, writing one JUnit file per test class where it likes (like Gradle).
mkdir -p build/test-results
for name in verify sign; do
  if grep -q 'return True' src/signy/signer.py && [ "$name" = verify ]; then
    case='<testcase classname="signy.VerifyTest" name="rejects_bad"><failure message="accepted"/></testcase>'
  else
    case="<testcase classname=\\"signy.${name}Test\\" name=\\"works\\"/>"
  fi
  printf '<testsuite name="%s">%s</testsuite>' "$name" "$case" > "build/test-results/TEST-$name.xml"
done
"""


def test_reports_the_command_writes_where_it_likes_are_read_and_stale_ones_are_not(
    project: Path, tmp_path: Path
) -> None:
    runner = tmp_path / "gradle-like.sh"
    runner.write_text(GRADLE_LIKE)
    # The run itself leaves a report claiming a failure: it was not written by the test phase, so never read.
    stale = '<testsuite><testcase classname="old" name="stale"><failure/></testcase></testsuite>'
    command = (
        f"{signy.BREAK_SIGNER}; mkdir -p build/test-results; echo '{stale}' > build/test-results/TEST-old.xml"
    )
    spec = TestSpec(command=sh(f"sh {runner}"), reports=("build/test-results/*.xml",))
    attempt = final(run_batch(project, command, spec), "break")
    assert attempt.outcome is Outcome.REGRESSED
    assert attempt.tests is not None
    assert attempt.tests.new_failures == ("signy.VerifyTest::rejects_bad",)
    after = json.loads((project / ".autonomous_runs" / "break" / "ci" / "after.json").read_text())
    assert sorted(after["tests"]) == ["signy.VerifyTest::rejects_bad", "signy.signTest::works"]
    # The stale report is the run's own change (its command wrote it), kept on its branch.
    shown = git(project, "show", "--name-only", "--format=", "parallel-runs/break").split()
    assert sorted(shown) == ["build/test-results/TEST-old.xml", "src/signy/signer.py"]


def test_node_ids_in_the_markdown_report_can_be_passed_to_pytest(project: Path, tmp_path: Path) -> None:
    result = run_batch(project, signy.BREAK_SIGNER, "PYTHONPATH=src pytest -q")
    markdown = render_markdown(build_rows([final(result, "break")]))
    shown = [line.split("`")[1] for line in markdown.splitlines() if line.startswith("  - `")]
    assert shown == list(signy.BROKEN)
    broken = tmp_path / "broken"
    git(project, "worktree", "add", "-q", str(broken), "parallel-runs/break")
    again = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *shown],
        cwd=broken,
        env=signy.environment(PYTHONPATH="src"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "5 failed in" in again.stdout, again.stdout  # exactly the five, each found by its node id


# Issue #17: a command that crashed is judged by its own output, and no test phase runs after it.
CRASH = "echo started; python3 -c 'raise RuntimeError(\"agent crashed\")'"


def test_a_crashed_command_is_judged_by_its_own_output_and_runs_no_tests(project: Path) -> None:
    result = run_batch(project, CRASH, "PYTHONPATH=src pytest -q", run_ids=("crash",))
    attempt = final(result, "crash")
    assert attempt.outcome is Outcome.FAILED
    assert attempt.tests is None  # the suite's minutes are not spent on a failed command
    assert "RuntimeError: agent crashed" in (attempt.error_tail or "")
    assert "passed" not in (attempt.error_tail or "")
    log = (project / ".autonomous_runs" / "crash" / "run.log").read_text()
    assert "tests (after)" not in log
    markdown = render_markdown(build_rows([attempt]))
    assert "RuntimeError: agent crashed" in markdown
