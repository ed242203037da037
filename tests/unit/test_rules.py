"""The gate's rules: when a run's tests crashed, and when a baseline cannot judge any run (pure)."""

from __future__ import annotations

import pytest

from parallel_runs.core.junit import Failure, TestOutcome
from parallel_runs.core.suite import TestResults
from parallel_runs.gate.rules import baseline_problem, crash_of, describe_exit

PASSED, FAILED, COLLECTION = TestOutcome.PASSED, TestOutcome.FAILED, TestOutcome.COLLECTION_ERROR


def results(
    exit_code: int | None,
    outcomes: dict[str, TestOutcome] | None,
    *,
    reason: str | None = None,
    timed_out: bool = False,
    failures: dict[str, Failure] | None = None,
) -> TestResults:
    return TestResults(
        phase="after",
        command="pytest -q",
        exit_code=exit_code,
        outcomes=outcomes,
        reason=reason,
        timed_out=timed_out,
        failures=failures or {},
    )


BASELINE = results(0, {"t::a": PASSED, "t::b": PASSED})


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (results(4, None, reason="wrote no report"), "exit 4: pytest's usage error"),  # conftest.py raises
        (results(3, {"pytest::internal": TestOutcome.ERROR}), "exit 3: pytest's internal error"),
        (results(-11, None), "killed by SIGSEGV"),
        (results(137, None), "exit 137: killed by SIGKILL"),  # a shell's report of a killed child
        (results(127, None), "exit 127: the command was not found"),
        (results(2, None, reason="wrote no report"), "exit 2, no report"),  # make test, no report
        (results(1, None, reason="unusable report: malformed"), "exit 1, an unusable report"),
        (
            results(-15, None, reason="the test command timed out after 5s", timed_out=True),
            "timed out after 5s",
        ),
        (results(5, {}), "exit 5: no test ran, the baseline ran 2"),
    ],
)
def test_a_run_whose_tests_crashed_or_wrote_nothing_is_caught(after: TestResults, expected: str) -> None:
    crashed = crash_of(after, BASELINE)
    assert crashed is not None
    assert expected in crashed


@pytest.mark.parametrize(
    "after",
    [
        results(1, {"t::a": FAILED, "t::b": PASSED}),  # failures are judged by the delta
        results(2, {"t.broken": COLLECTION}),  # so are collection errors (they regress the run)
        results(0, {"t::a": PASSED}),
    ],
)
def test_a_run_with_a_report_is_left_to_the_delta(after: TestResults) -> None:
    assert crash_of(after, BASELINE) is None


def test_without_a_baseline_report_nothing_counts_as_crashed() -> None:
    assert crash_of(results(4, None), results(0, None)) is None  # --allow-empty-baseline


def test_ordinary_exit_codes_are_not_crashes() -> None:
    assert [describe_exit(code) for code in (0, 1, 2, 5, 100, 128, None)] == [None] * 7


@pytest.mark.parametrize(
    ("baseline", "what", "overridable"),
    [
        (results(127, None), "was not found (exit 127)", False),
        (results(126, None), "is not executable (exit 126)", False),
        (results(None, None, reason="could not start 'x': No such file"), "could not start", False),
        (
            results(-15, None, reason="the test command timed out after 9s", timed_out=True),
            "timed out",
            False,
        ),
        (results(3, {"pytest::internal": TestOutcome.ERROR}), "crashed (exit 3", False),
        (results(1, None, reason="no report"), "failed (exit 1) and wrote no per-test report", False),
        (
            results(0, None, reason="unusable report: bad xml"),
            "wrote an unusable report: bad xml (exit 0)",
            False,
        ),
        (results(5, {}), "collected no test (exit 5)", True),
        (
            results(
                2,
                {"tests.t": COLLECTION},
                failures={"tests.t": Failure("tests/t.py", "ModuleNotFoundError: No module named 'signy'")},
            ),
            "collected no test (exit 2, 1 collection error(s): ModuleNotFoundError: No module named 'signy')",
            True,
        ),
        (
            results(1, {"t::a": FAILED, "t::b": TestOutcome.SKIPPED}),
            "passed none of its 2 tests (exit 1",
            True,
        ),
    ],
)
def test_a_baseline_that_cannot_judge_is_a_problem(
    baseline: TestResults, what: str, overridable: bool
) -> None:
    problem = baseline_problem(baseline)
    assert problem is not None
    assert what in problem.what
    assert problem.overridable is overridable
    assert problem.fix


def test_a_baseline_with_a_passing_test_can_judge() -> None:
    assert baseline_problem(results(1, {"t::a": FAILED, "t::b": PASSED, "t.c": COLLECTION})) is None
