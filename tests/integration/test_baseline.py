"""Test baseline tracking against real git repositories and real pytest / shell test runners."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.junit import TestOutcome, parse_junit_xml
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.suite import TestSpec
from parallel_runs.gate import Severity, TestEvaluation, TestStatus, evaluate_tests
from parallel_runs.gate.baseline import ensure_baseline
from parallel_runs.gate.phases import Phase, run_phase
from parallel_runs.git import RunWorktree, detached_worktree
from parallel_runs.seed import TestBaselineTracker
from tests.helpers import git, processes_with

PYTHON = shlex.quote(sys.executable)
PYTEST = f"{PYTHON} -m pytest -q -p no:cacheprovider"

CONFTEST = """\
import os


def pytest_sessionstart(session):
    counter = os.environ.get("COUNTER_FILE")
    if counter:  # lives outside the repository: one line per test command invocation
        with open(counter, "a", encoding="utf-8") as stream:
            stream.write(os.environ.get("PARALLEL_RUNS_TEST_PHASE", "?") + "\\n")
"""
TESTS = """\
from app.calc import add, sub


def test_add():
    assert add(2, 3) == 5


def test_sub():
    assert sub(5, 3) == 2


def test_known_bug():
    assert add(0.1, 0.2) == 0.3
"""
CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
FLAKY_TEST = """\
import os, pathlib


def test_flaky():
    marker = pathlib.Path(os.environ['FLAKY_MARKER'])
    if not marker.exists():
        marker.write_text('failed once')
        raise AssertionError('fails on its first invocation only')
"""
SHELL_RUNNER = """\
#!/bin/sh
# A test runner that is not Python: checks the sources and writes JUnit XML by hand.
echo "shell runner: checking app/calc.py"
if [ -n "$NO_REPORT" ] && [ -e "$NO_REPORT" ]; then
    echo "no report today"
    exit 1
fi
add='<testcase classname="shell.calc" name="add_is_sum"/>'
broken='<testcase classname="shell.calc" name="add_is_sum"><failure message="add broken"/></testcase>'
grep -q "return a + b" app/calc.py || add="$broken"
{
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<testsuite name="shell" tests="2">'
    echo "$add"
    echo '<testcase classname="shell.readme" name="has_title"/>'
    echo '</testsuite>'
} > "$PARALLEL_RUNS_JUNIT"
"""


class BarrierLike(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


def sh(text: str) -> CommandSpec:
    return CommandSpec(shell=text)


@pytest.fixture
def project(make_repo: Callable[..., Path]) -> Path:
    """A repository whose suite has one failing test (test_known_bug) at its base commit."""
    return make_repo(
        "project",
        {
            "pytest.ini": "[pytest]\n",
            "conftest.py": CONFTEST,
            "app/__init__.py": "",
            "app/calc.py": CALC,
            "tests/__init__.py": "",
            "tests/test_math.py": TESTS,
            "run_tests.sh": SHELL_RUNNER,
            "README.md": "# demo\n",
        },
    )


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    return tmp_path / "invocations.txt"


@pytest.fixture
def environ(counter: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "COUNTER_FILE": str(counter), "FLAKY_MARKER": str(tmp_path / "flaky-marker")}


def invocations(counter: Path) -> list[str]:
    return counter.read_text().split() if counter.exists() else []


def make_run(repo: Path, runs_dir: Path, slug: str, files: Mapping[str, str] | None = None) -> RunPaths:
    """A run's worktree at HEAD with `files` written into it (what the run's command changed)."""
    paths = RunPaths(runs_dir=runs_dir, slug=slug)
    workspace = RunWorktree(repo=repo, paths=paths).create(base_sha=git(repo, "rev-parse", "HEAD"), attempt=1)
    for rel, text in (files or {}).items():
        (workspace / rel).write_text(text)
    return paths


def evaluate(repo: Path, paths: RunPaths, spec: TestSpec, environ: Mapping[str, str]) -> TestEvaluation:
    return evaluate_tests(
        repo=repo,
        paths=paths,
        workspace=paths.workspace,
        base_sha=git(repo, "rev-parse", "HEAD"),
        spec=spec,
        environ=environ,
    )


def test_three_runs_share_one_baseline_computed_once(
    project: Path, runs_dir: Path, counter: Path, environ: dict[str, str]
) -> None:
    changes = {
        "same": {},
        "breaks": {"app/calc.py": CALC.replace("return a - b", "return b - a")},
        "fixes": {
            "tests/test_math.py": TESTS.replace("add(0.1, 0.2) == 0.3", "round(add(0.1, 0.2), 9) == 0.3")
        },
    }
    runs = {slug: make_run(project, runs_dir, slug, files) for slug, files in changes.items()}
    spec = TestSpec(command=sh(PYTEST), timeout=120)
    barrier = threading.Barrier(len(runs), timeout=60)
    evaluations: dict[str, TestEvaluation] = {}

    def work(slug: str) -> None:
        barrier.wait()  # all three ask for the baseline at once
        evaluations[slug] = evaluate(project, runs[slug], spec, environ)

    threads = [threading.Thread(target=work, args=(slug,)) for slug in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    same, breaks, fixes = evaluations["same"], evaluations["breaks"], evaluations["fixes"]
    assert same.status is TestStatus.PASSED
    assert same.verdict is not None
    assert same.verdict.delta.newly_failing == same.verdict.delta.newly_passing == ()
    assert same.verdict.delta.still_failing == ("tests.test_math::test_known_bug",)
    assert breaks.status is TestStatus.REGRESSED
    assert breaks.new_failures == ("tests.test_math::test_sub",)
    assert breaks.severity is Severity.LOW
    assert breaks.flaky == ()
    assert fixes.status is TestStatus.PASSED
    assert fixes.verdict is not None
    assert fixes.verdict.delta.newly_passing == ("tests.test_math::test_known_bug",)
    assert fixes.summary == "\N{MINUS SIGN}1"

    phases = invocations(counter)
    assert phases.count("baseline") == 1
    assert phases.count("after") == 3
    assert phases.count("retry-1") == 1  # only the run with a new failure retried
    assert sorted(e.baseline_reused for e in evaluations.values()) == [False, True, True]
    # The retry ran only the newly failing test (pytest, through the selection plugin).
    retry = parse_junit_xml((runs["breaks"].ci_dir / "retry-1.junit.xml").read_bytes())
    assert retry == {"tests.test_math::test_sub": TestOutcome.FAILED}
    # The baseline worktree is gone, and git forgot it.
    assert not (runs_dir / "baselines" / "worktrees" / same.baseline_key).exists()
    assert "baselines" not in git(project, "worktree", "list")
    for paths in runs.values():
        for document in (paths.baseline_json, paths.after_json, paths.delta_json):
            assert document.is_file()
    assert "===== parallel-runs: tests (after)" in runs["same"].run_log.read_text()


def test_the_selection_plugin_runs_where_parallel_runs_is_not_installed(
    project: Path, tmp_path: Path
) -> None:
    # The test command may run in another virtualenv: a `parallel_runs` that cannot be imported
    # first on its path stands for that, so the plugin file must need nothing but the standard library.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "parallel_runs.py").write_text("raise ImportError('parallel_runs is not installed here')\n")
    phase = Phase(
        name="retry-1",
        cwd=project,
        reports=tmp_path / "ci",
        stem="retry-1",
        log=tmp_path / "tests.log",
        select=("tests.test_math::test_sub",),
    )
    environ = {**os.environ, "PYTHONPATH": str(shadow)}
    results = run_phase(phase, spec=TestSpec(command=sh(PYTEST)), environ=environ, grace=1.0)
    assert results.outcomes == {"tests.test_math::test_sub": TestOutcome.PASSED}, phase.log.read_text()


def _baseline_in_process(
    *, repo: Path, runs_dir: Path, sha: str, command: str, environ: dict[str, str], barrier: BarrierLike
) -> None:
    barrier.wait()
    spec = TestSpec(command=CommandSpec(shell=command), timeout=120)
    result = ensure_baseline(
        repo=repo, runs_dir=runs_dir, base_sha=sha, spec=spec, environ=environ, log_path=runs_dir / "p.log"
    )
    assert result.results.is_available


def test_processes_wait_for_the_single_baseline_computation(
    project: Path, runs_dir: Path, counter: Path, environ: dict[str, str]
) -> None:
    # Slow enough that, without the lock, every process would compute its own; {junit} placeholder.
    command = f"sleep 1; {PYTEST} --junitxml={{junit}}"
    sha = git(project, "rev-parse", "HEAD")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3, timeout=60)
    kwargs = {"repo": project, "runs_dir": runs_dir, "sha": sha, "command": command, "environ": environ}
    processes = [
        context.Process(target=_baseline_in_process, kwargs={**kwargs, "barrier": barrier}) for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert invocations(counter) == ["baseline"]


def test_a_test_failing_only_on_its_first_invocation_is_flaky(
    project: Path, runs_dir: Path, environ: dict[str, str]
) -> None:
    paths = make_run(project, runs_dir, "flaky", {"tests/test_flaky.py": FLAKY_TEST})
    evaluation = evaluate(project, paths, TestSpec(command=sh(PYTEST)), environ)
    assert evaluation.status is TestStatus.PASSED
    assert evaluation.flaky == ("tests.test_flaky::test_flaky",)
    assert evaluation.new_failures == ()
    assert evaluation.summary == "0 (1 flaky)"


def test_without_retries_the_same_test_regresses(
    project: Path, runs_dir: Path, environ: dict[str, str]
) -> None:
    paths = make_run(project, runs_dir, "no-retry", {"tests/test_flaky.py": FLAKY_TEST})
    evaluation = evaluate(project, paths, TestSpec(command=sh(PYTEST), retries=0), environ)
    assert evaluation.status is TestStatus.REGRESSED
    assert evaluation.new_failures == ("tests.test_flaky::test_flaky",)


def test_a_syntax_error_in_a_test_module_is_a_new_collection_error(
    project: Path, runs_dir: Path, environ: dict[str, str]
) -> None:
    paths = make_run(project, runs_dir, "broken", {"tests/test_broken.py": "def test_x(:\n    pass\n"})
    evaluation = evaluate(project, paths, TestSpec(command=sh(PYTEST)), environ)
    assert evaluation.status is TestStatus.REGRESSED
    assert evaluation.verdict is not None
    assert evaluation.verdict.delta.new_collection_errors == ("tests.test_broken",)
    assert evaluation.new_failures == ("tests.test_broken",)
    assert evaluation.severity is Severity.LOW


def test_no_report_after_the_run_is_a_crash_and_a_stale_report_is_never_read(
    project: Path, runs_dir: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    no_report = tmp_path / "no-report"
    environ = {**environ, "NO_REPORT": str(no_report)}
    spec = TestSpec(command=sh("sh run_tests.sh"))
    paths = make_run(project, runs_dir, "stale")
    first = evaluate(project, paths, spec, environ)
    assert first.status is TestStatus.PASSED
    assert (paths.ci_dir / "after.junit.xml").is_file()  # attempt 1 left its report behind
    (paths.ci_dir / "after.pytest.json").write_text('{"tests": [], "collectors": []}')  # and a json one

    no_report.touch()  # attempt 2: the runner writes nothing (the baseline comes from the cache)
    second = evaluate(project, paths, spec, environ)
    assert second.status is TestStatus.CRASHED  # the baseline had a report: never "no failures"
    assert second.is_regressed
    assert second.reason == "exit 1, no report"
    assert second.verdict is None
    assert second.summary == "crashed"
    assert "no report today" in paths.run_log.read_text()
    assert '"status": "tests_crashed"' in paths.delta_json.read_text()
    assert '"available": false' in paths.after_json.read_text()


def test_a_non_python_runner_writing_junit_by_hand(
    project: Path, runs_dir: Path, environ: dict[str, str]
) -> None:
    spec = TestSpec(command=sh("sh run_tests.sh"))
    same = evaluate(project, make_run(project, runs_dir, "sh-same"), spec, environ)
    broken = make_run(project, runs_dir, "sh-broken", {"app/calc.py": CALC.replace("a + b", "a * b")})
    regressed = evaluate(project, broken, spec, environ)
    assert same.status is TestStatus.PASSED
    assert regressed.status is TestStatus.REGRESSED
    assert regressed.new_failures == ("shell.calc::add_is_sum",)
    assert regressed.verdict is not None
    assert regressed.verdict.retry_rounds == 1  # the whole command again, judged on that id
    assert "===== parallel-runs: tests (retry-1)" in broken.run_log.read_text()


def test_an_entity_bomb_report_is_rejected(project: Path, runs_dir: Path, environ: dict[str, str]) -> None:
    bomb = "".join(f' <!ENTITY l{i} "{f"&l{i - 1};" * 10}">\n' for i in range(1, 10))
    xml = f'<?xml version="1.0"?>\n<!DOCTYPE b [\n <!ENTITY l0 "lol">\n{bomb}]>\n<testsuite name="&l9;"/>\n'
    (runs_dir.parent / "bomb.xml").write_text(xml)
    spec = TestSpec(command=sh(f'cp {shlex.quote(str(runs_dir.parent / "bomb.xml"))} "$PARALLEL_RUNS_JUNIT"'))
    started = time.monotonic()
    evaluation = evaluate(project, make_run(project, runs_dir, "bomb"), spec, environ)
    assert time.monotonic() - started < 30
    assert evaluation.status is TestStatus.UNAVAILABLE
    assert evaluation.reason is not None
    assert "entity-expansion bomb" in evaluation.reason


def test_a_test_phase_that_times_out_is_killed(
    project: Path, runs_dir: Path, environ: dict[str, str]
) -> None:
    marker = f"parallel-runs-test-timeout-{os.getpid()}"
    spec = TestSpec(command=sh(f"bash -c 'sleep 60' {marker} & wait"), timeout=1)
    started = time.monotonic()
    evaluation = evaluate(project, make_run(project, runs_dir, "slow"), spec, environ)
    assert time.monotonic() - started < 30
    assert evaluation.status is TestStatus.UNAVAILABLE
    assert evaluation.reason is not None
    assert evaluation.reason.startswith("baseline: the test command timed out")
    assert processes_with(marker) == []
    assert "baselines" not in git(project, "worktree", "list")


def test_real_pytest_junit_output(tmp_path: Path) -> None:
    """What real pytest writes for each outcome, and for a module that cannot be collected."""
    suite = tmp_path / "suite"
    (suite / "tests").mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "tests" / "test_a.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef bad():\n    raise RuntimeError('boom')\n\n\n"
        "def test_ok():\n    pass\n\n\ndef test_fail():\n    assert 0\n\n\n"
        "def test_setup(bad):\n    pass\n\n\n@pytest.mark.skip\ndef test_skip():\n    pass\n\n\n"
        "@pytest.mark.xfail\ndef test_xfail():\n    assert 0\n\n\n"
        "class TestC:\n    @pytest.mark.parametrize('x', ['a b'])\n    def test_p(self, x):\n        pass\n"
    )

    def run() -> dict[str, TestOutcome]:
        report = tmp_path / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        subprocess.run(command, cwd=suite, capture_output=True, check=False, timeout=120)
        return parse_junit_xml(report.read_bytes())

    assert run() == {
        "tests.test_a::test_ok": TestOutcome.PASSED,
        "tests.test_a::test_fail": TestOutcome.FAILED,
        "tests.test_a::test_setup": TestOutcome.ERROR,
        "tests.test_a::test_skip": TestOutcome.SKIPPED,
        "tests.test_a::test_xfail": TestOutcome.SKIPPED,
        "tests.test_a.TestC::test_p[a b]": TestOutcome.PASSED,
    }
    (suite / "tests" / "sub").mkdir()
    (suite / "tests" / "sub" / "test_bad.py").write_text("def test_x(:\n")
    assert run() == {"tests.sub.test_bad": TestOutcome.COLLECTION_ERROR}  # pytest stops at collection


def test_detached_worktree_is_clean_and_removed(project: Path, tmp_path: Path) -> None:
    base = git(project, "rev-parse", "HEAD")
    (project / "README.md").write_text("dirty, uncommitted\n")
    git(project, "commit", "-qam", "second")
    (project / "untracked.txt").write_text("not in the baseline\n")
    path = tmp_path / "runs" / "baselines" / "worktrees" / "k"
    path.mkdir(parents=True)
    (path / "left-by-a-crash").write_text("x")
    with detached_worktree(project, path, base) as checkout:
        assert (checkout / "README.md").read_text() == "# demo\n"
        assert not (checkout / "untracked.txt").exists()
        assert not (checkout / "left-by-a-crash").exists()
        assert git(checkout, "rev-parse", "HEAD") == base
        detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=checkout, check=False)
        assert detached.returncode != 0
        (checkout / "junk.txt").write_text("tests leave files behind\n")
    assert not path.exists()
    assert str(path) not in git(project, "worktree", "list")


def test_seed_tracker_api(project: Path, runs_dir: Path, environ: dict[str, str], tmp_path: Path) -> None:
    legacy = TestBaselineTracker(project, runs_dir=runs_dir, environ=environ)
    assert legacy.cache_dir == runs_dir / "baselines"
    default = TestBaselineTracker(project, environ=environ)  # no runs dir named: <repo>/.autonomous_runs
    assert default.cache_dir == project / ".autonomous_runs" / "baselines"
    assert git(project, "status", "--porcelain") == ""  # the runs dir inside the repo is excluded
    tracker = TestBaselineTracker(project, run_id="exp/1", runs_dir=runs_dir, environ=environ)
    assert tracker.cache_dir.parent.parent == runs_dir
    assert tracker.cache_dir.name == "baselines"
    assert tracker.cache_dir.is_dir()

    sha = git(project, "rev-parse", "HEAD")
    baseline = tracker.capture_baseline("exp/1", sha, timeout=120)
    assert baseline.failing_test_ids == ["tests.test_math::test_known_bug"]
    assert (baseline.total_tests, baseline.passing_tests, baseline.failing_tests) == (3, 2, 1)
    assert (tracker.cache_dir / f"{sha}.json").is_file()
    assert tracker.capture_baseline("exp/1", sha) == baseline  # from the seed-shaped cache
    # Same commit, same cache dir, another test command: its own baseline, not the cached one.
    only_known_bug = f"{sys.executable} -m pytest -q -p no:cacheprovider tests -k known_bug"
    other = TestBaselineTracker(
        project, run_id="exp/1", runs_dir=runs_dir, environ=environ, test_command=only_known_bug
    )
    narrowed = other.capture_baseline("exp/1", sha, timeout=120)
    assert (narrowed.total_tests, narrowed.failing_test_ids) == (1, ["tests.test_math::test_known_bug"])

    paths = make_run(project, runs_dir, "seed-run", {"app/calc.py": CALC.replace("return a - b", "return 0")})
    report = tmp_path / "current.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=paths.workspace,
        capture_output=True,
        check=False,
        timeout=120,
        env=environ,
    )
    delta = tracker.diff(baseline, report)
    assert delta.newly_failing == ["tests.test_math::test_sub"]
    assert tracker.retry_newly_failing(delta.newly_failing, paths.workspace) == {
        "tests.test_math::test_sub": "failed"
    }
    full = tracker.compute_full_delta(baseline, report, paths.workspace)
    assert full.newly_failing_persistent == ["tests.test_math::test_sub"]
    assert full.flaky_suspects == []
    assert full.regression_severity == "low"
