"""The event lines `run` prints: a finished run says what its tests found."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from parallel_runs.cli.progress import describe
from parallel_runs.core.events import Event, EventKind
from parallel_runs.core.model import Outcome, TestSummary
from tests.unit.report.attempts import record


def finished(outcome: Outcome, tests: TestSummary | None) -> str:
    attempt = dataclasses.replace(record("break", 1, outcome), tests=tests, changed_files=1)
    details = {key: value for key, value in attempt.to_json().items() if key != "run_id"}
    line = describe(Event(EventKind.ATTEMPT_FINISHED, datetime.now(UTC), "break", details))
    assert line is not None
    return line


def test_a_regressed_run_counts_broken_fixed_and_flaky_tests() -> None:
    broken = tuple(f"t.py::test_{n}" for n in range(80))
    tests = TestSummary(status="regressed", summary="+80", new_failures=broken)
    assert "1 file(s) changed, tests +80 \u22120, 0 flaky) \u2192 parallel-runs/break" in finished(
        Outcome.REGRESSED, tests
    )


def test_a_succeeded_run_with_test_results_says_what_it_fixed() -> None:
    tests = TestSummary(status="passed", summary="\u22122", newly_passing=("t.py::a", "t.py::b"))
    assert ", tests +0 \u22122) \u2192" in finished(Outcome.SUCCEEDED, tests)
    flaky = TestSummary(status="passed", summary="0 (1 flaky)", flaky=("t.py::a",))
    assert ", tests +0 \u22120, 1 flaky) \u2192" in finished(Outcome.SUCCEEDED, flaky)


def test_crashed_tests_say_why_and_runs_without_tests_say_nothing() -> None:
    crashed = TestSummary(status="tests_crashed", summary="crashed", reason="exit 4: pytest's [usage] error")
    assert ", tests crashed: exit 4: pytest's \\[usage] error) \u2192" in finished(Outcome.REGRESSED, crashed)
    assert "file(s) changed) \u2192" in finished(Outcome.SUCCEEDED, None)


def test_the_baseline_lines() -> None:
    started = Event(
        EventKind.BASELINE_STARTED,
        datetime.now(UTC),
        None,
        {"base_sha": "a" * 40, "command": "pytest -q", "log": "/runs/baselines/k.log"},
    )
    assert (
        describe(started)
        == "baseline  testing the base commit aaaaaaaaaaaa: pytest -q (log: /runs/baselines/k.log)"
    )
    counts = {"total": 8, "passed": 5, "failed": 1, "error": 1, "skipped": 0, "collection_error": 1}
    done = Event(EventKind.BASELINE_FINISHED, datetime.now(UTC), None, {"counts": counts, "reused": True})
    assert describe(done) == (
        "baseline  7 tests at the base commit: 5 passed, 2 failing, 0 skipped, 1 collection error(s) (cached)"
    )


def test_a_run_whose_changes_were_not_counted_says_no_number() -> None:
    # issue #16: a no_space or worktree_broken attempt said "None file(s) changed".
    attempt = dataclasses.replace(
        record("full", 1, Outcome.FAILED), changed_files=None, error="no_space: full"
    )
    details = {key: value for key, value in attempt.to_json().items() if key != "run_id"}
    line = describe(Event(EventKind.ATTEMPT_FINISHED, datetime.now(UTC), "full", details))
    assert line is not None
    assert "file(s)" not in line
    assert line.splitlines()[1].endswith("│ no_space: full[/]")


def batch_finished(**data: object) -> str:
    line = describe(Event(EventKind.BATCH_FINISHED, datetime.now(UTC), None, {"batch_id": "b", **data}))
    assert line is not None
    return line


def test_a_worker_of_a_cancelled_batch_says_it_was_cancelled() -> None:
    # issue #16: a worker started after `cancel` said "12 runs: none here, 12 on other workers".
    line = batch_finished(
        exit_code=1, counts={}, stop_reason="cancelled", whole_batch={"not_started": 11, "cancelled": 1}
    )
    assert line == (
        "batch b [yellow]was cancelled[/] (parallel-runs cancel): 12 runs: none here, the whole batch: "
        "1 cancelled, 11 not_started (exit 1)"
    )
    helped = batch_finished(
        exit_code=0, counts={"succeeded": 1}, stop_reason=None, whole_batch={"succeeded": 3}
    )
    assert helped == "batch b finished: 3 runs: 1 succeeded here, 2 on other workers (exit 0)"
