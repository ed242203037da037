"""Delta between baseline and after, retries into flaky/persistent, severity (pure)."""

from __future__ import annotations

import pytest

from parallel_runs.core.junit import TestOutcome
from parallel_runs.gate.delta import Delta, Severity, classify, compute_delta, not_passed, severity_for

P, F, E, S, C = (
    TestOutcome.PASSED,
    TestOutcome.FAILED,
    TestOutcome.ERROR,
    TestOutcome.SKIPPED,
    TestOutcome.COLLECTION_ERROR,
)


@pytest.mark.parametrize(
    ("count", "severity"),
    [
        (0, Severity.NONE),
        (1, Severity.LOW),
        (2, Severity.MEDIUM),
        (4, Severity.MEDIUM),
        (5, Severity.HIGH),
        (9, Severity.HIGH),
        (10, Severity.CRITICAL),
        (250, Severity.CRITICAL),
    ],
)
def test_severity_thresholds(count: int, severity: Severity) -> None:
    assert severity_for(count) is severity


def test_delta_categories() -> None:
    baseline = {"a": P, "b": F, "c": F, "d": P, "e": S, "m.bad": C, "g": E}
    after = {"a": F, "b": F, "c": P, "d": E, "e": F, "new": F, "m.bad": C, "m.worse": C, "g": P}
    assert compute_delta(baseline, after) == Delta(
        newly_failing=("a", "d", "e", "new"),  # passing, skipped or absent at base
        newly_passing=("c", "g"),
        new_collection_errors=("m.worse",),  # m.bad already failed to collect at base
        new_setup_errors=("d",),
        still_failing=("b",),
    )


def test_missing_after_is_neither_failing_nor_passing() -> None:
    # A collection error hides a module's tests: a test that failed at base and is now absent
    # is not "newly passing", and a test passing at base and now absent is not "newly failing".
    delta = compute_delta({"x": F, "y": P}, {"mod": C})
    assert delta.newly_passing == ()
    assert delta.newly_failing == ()
    assert delta.new_collection_errors == ("mod",)


def test_identical_results_give_an_empty_delta() -> None:
    results = {"a": P, "b": F}
    verdict = classify(compute_delta(results, results), [])
    assert verdict.persistent == verdict.flaky == verdict.delta.newly_failing == ()
    assert verdict.delta.still_failing == ("b",)
    assert not verdict.is_regressed
    assert verdict.severity is Severity.NONE
    assert verdict.summary() == "0"


def test_retries_split_flaky_from_persistent() -> None:
    delta = compute_delta({}, {"a": F, "b": F, "c": F})
    verdict = classify(delta, [{"a": P, "b": F}, {"b": P}])  # c missing from both retry reports
    assert verdict.flaky == ("a", "b")
    assert verdict.persistent == ("c",)
    assert verdict.retry_rounds == 2
    assert verdict.is_regressed
    assert verdict.severity is Severity.LOW


def test_without_retries_every_new_failure_is_persistent() -> None:
    verdict = classify(compute_delta({}, {"a": F, "b": E}), [])
    assert verdict.persistent == ("a", "b")
    assert verdict.severity is Severity.MEDIUM


def test_new_collection_error_regresses_and_counts_for_severity() -> None:
    verdict = classify(compute_delta({"t": P}, {"tests.test_x": C}), [])
    assert verdict.is_regressed
    assert verdict.severity is Severity.LOW
    assert verdict.summary() == "+1"


def test_not_passed_keeps_order_and_treats_absent_as_failing() -> None:
    assert not_passed(("c", "a", "b"), {"a": P, "b": S}) == ("c", "b")


def test_summary_and_json() -> None:
    delta = compute_delta({"x": F, "y": F}, {"x": P, "y": P, "a": F, "b": F, "c": F})
    verdict = classify(delta, [{"a": P}])
    assert verdict.summary() == "+2 \N{MINUS SIGN}2 (1 flaky)"
    document = verdict.to_json()
    assert document["regressed"] is True
    assert document["severity"] == "medium"
    assert document["newly_failing_persistent"] == ["b", "c"]
    assert document["flaky"] == ["a"]
    assert document["counts"] == {
        "newly_failing": 3,
        "persistent": 2,
        "flaky": 1,
        "newly_passing": 2,
        "new_collection_errors": 0,
        "new_setup_errors": 0,
        "still_failing": 0,
    }
