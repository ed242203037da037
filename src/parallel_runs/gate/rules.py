"""The rules that keep the gate from passing a broken run. Pure: test results in, verdicts out.

At the base commit (the batch stops before any run starts, exit 2): a test command not found (127),
not executable (126), that cannot start, times out or crashes; one that fails without a report;
one that collects no test or passes none, unless --allow-empty-baseline. One that exits 0 without a
per-test report judges the runs by exit status. After a run: a test phase that wrote no report,
crashed, timed out, or ran nothing where the baseline ran tests makes the run `regressed` with
tests `tests_crashed`; judged by exit status, a non-zero exit makes it `regressed` with
`tests_failed`; one that imported the code under test from the source checkout or another
worktree, `regressed` with tests `tests_imported_elsewhere` (at the base commit, the batch stops);
new collection or setup errors and persistent new failures make it `regressed` (gate/delta.py).
README "Judging runs by their tests" has the same rules as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from parallel_runs.core.junit import TestOutcome
from parallel_runs.core.policy import signal_name
from parallel_runs.core.suite import UNUSABLE_REPORT, TestResults

__all__ = [
    "BaselineProblem",
    "baseline_problem",
    "crash_of",
    "describe_exit",
    "is_acceptable",
    "is_judged_by_exit_status",
]

# Exit codes that say the test command did not run the tests to their end.
_CRASH_CODES = {
    3: "pytest's internal error (INTERNALERROR)",
    4: "pytest's usage error: a conftest.py or plugin that fails to import, or a bad option",
    126: "the command is not executable",
    127: "the command was not found",
}


def _is_unusable(results: TestResults) -> bool:
    """Whether the test command left a report that could not be read (phases.py says so in `reason`)."""
    return (results.reason or "").startswith(UNUSABLE_REPORT)


def describe_exit(exit_code: int | None) -> str | None:
    """What an exit code says when it says the tests never finished (a crash), else None."""
    if exit_code is None:
        return None
    if exit_code in _CRASH_CODES:
        return f"exit {exit_code}: {_CRASH_CODES[exit_code]}"
    if exit_code < 0:
        return f"killed by {signal_name(exit_code) or f'signal {-exit_code}'}"
    if name := signal_name(exit_code):
        return f"exit {exit_code}: killed by {name}"
    return None


def is_judged_by_exit_status(baseline: TestResults) -> bool:
    """A baseline that exited 0 and wrote no per-test report: the runs' tests are judged by exit status."""
    unusable = _is_unusable(baseline)
    return baseline.outcomes is None and baseline.exit_code == 0 and not baseline.timed_out and not unusable


def _test_count(results: TestResults) -> int:
    """Tests in a report, collectors that failed to import left out."""
    return sum(outcome is not TestOutcome.COLLECTION_ERROR for outcome in (results.outcomes or {}).values())


def crash_of(after: TestResults, baseline: TestResults) -> str | None:
    """Why a run's test phase counts as crashed, when the baseline had a report: else None.

    No report, a crash's exit code, a timeout, or an empty report where the baseline ran tests (a
    report of collection errors only is judged by the delta: new collection errors regress a run).
    """
    if baseline.outcomes is None:
        return None
    crashed = describe_exit(after.exit_code)
    if after.timed_out or (after.outcomes is None and after.exit_code is None):
        return after.reason
    if after.outcomes is None:
        wrote = "an unusable report" if _is_unusable(after) else "no report"
        return f"{crashed or f'exit {after.exit_code}'}, {wrote}"
    if crashed:
        return crashed
    if not after.outcomes and (ran := _test_count(baseline)):
        return f"exit {after.exit_code}: no test ran, the baseline ran {ran}"
    return None


@dataclass(frozen=True, slots=True)
class BaselineProblem:
    """Why a baseline cannot judge the runs, and how to fix it."""

    what: str  # what the test command did at the base commit
    fix: str
    overridable: bool  # --allow-empty-baseline accepts it


_NOT_FOUND_FIX = (
    "check its spelling, and that it is on the PATH parallel-runs runs with (a virtualenv's bin "
    "directory, or give the full path)"
)
_NO_REPORT_FIX = (
    "make the test command pass at the base commit first; for per-test judging, pytest and "
    "`python -m unittest` write a report by themselves, another runner must write JUnit XML to "
    "$PARALLEL_RUNS_JUNIT or name its files with --test-report GLOB"
)
_NO_TESTS_FIX = (
    "make the code under test importable (PYTHONPATH=src in the test command, or install the project "
    "in the test command's environment) and check the test paths (--allow-empty-baseline if the suite "
    "is meant to be empty)"
)


def _first_error(results: TestResults) -> str:
    messages = (failure.message.splitlines()[0] for failure in results.failures.values() if failure.message)
    return next((f": {first}" for first in messages), "")


def _broken(results: TestResults) -> BaselineProblem | None:
    """The test command did not run the suite to its end at the base commit."""
    code = results.exit_code
    if code in (126, 127):
        what = f"was not found (exit {code})" if code == 127 else f"is not executable (exit {code})"
        return BaselineProblem(what, _NOT_FOUND_FIX, overridable=False)
    if results.outcomes is None and code is None and not results.timed_out:
        return BaselineProblem(f"could not start ({results.reason})", _NOT_FOUND_FIX, overridable=False)
    if results.timed_out:
        what = (results.reason or "timed out").removeprefix("the test command ")
        return BaselineProblem(what, "raise --test-timeout", overridable=False)
    if crashed := describe_exit(code):
        fix = "make the test command pass at the base commit first (run it in a clean checkout)"
        return BaselineProblem(f"crashed ({crashed})", fix, overridable=False)
    return None


def _without_report(results: TestResults) -> BaselineProblem | None:
    """A baseline with no usable per-test report: exit 0 judges the runs by exit status, else a problem."""
    code = results.exit_code
    if _is_unusable(results):
        fix = "make the runner write valid JUnit XML, or stop naming the file with --test-report"
        return BaselineProblem(f"wrote an {results.reason} (exit {code})", fix, overridable=False)
    if code != 0:
        # Without a report the exit status is all that judges: one that fails at the base commit
        # would pass every run that fails the same way. No flag turns that into a pass.
        what = f"failed (exit {code}) and wrote no per-test report"
        return BaselineProblem(what, _NO_REPORT_FIX, overridable=False)
    return None


_ELSEWHERE_FIX = (
    "make the tests import the worktree's code: do not put the checkout on sys.path in a conftest.py or "
    "script, or install the project per worktree (--setup-command 'python -m venv .venv && .venv/bin/pip "
    "install -e .')"
)


def baseline_problem(results: TestResults) -> BaselineProblem | None:
    """Why the baseline cannot judge runs (the batch then stops before any run starts), else None."""
    if results.imported_elsewhere:
        what = f"imported the code under test from outside its worktree ({results.imported_elsewhere})"
        return BaselineProblem(what, _ELSEWHERE_FIX, overridable=False)
    if broken := _broken(results):
        return broken
    code = results.exit_code
    if results.outcomes is None:
        return _without_report(results)
    if (tests := _test_count(results)) == 0:
        errors = len(results.outcomes)
        what = f"collected no test (exit {code}, {errors} collection error(s){_first_error(results)})"
        what = what if errors else f"collected no test (exit {code})"
        return BaselineProblem(what, _NO_TESTS_FIX, overridable=True)
    if results.counts()[TestOutcome.PASSED.value] == 0:
        what = f"passed none of its {tests} tests (exit {code}{_first_error(results)})"
        fix = "make the suite pass at the base commit (its dependencies, services, environment)"
        return BaselineProblem(what, fix, overridable=True)
    return None


def is_acceptable(results: TestResults, *, allow_empty: bool) -> bool:
    """Whether a baseline can judge the runs (`allow_empty`: an empty suite is acceptable, nothing else)."""
    problem = baseline_problem(results)
    return problem is None or (problem.overridable and allow_empty)
