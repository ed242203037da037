"""Baseline vs after: what a run broke and fixed, retried failures, severity.

Pure: retry_and_classify runs its retries through the caller's callback.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from parallel_runs.core.junit import TestOutcome

__all__ = [
    "Delta",
    "Severity",
    "Verdict",
    "classify",
    "compute_delta",
    "not_passed",
    "regression_severity",
    "retry_and_classify",
    "severity_for",
]


class Severity(StrEnum):
    """How bad a regression is, from the number of persistent new failures."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def severity_for(count: int) -> Severity:
    """0 none, 1 low, 2-4 medium, 5-9 high, 10 or more critical."""
    if count <= 0:
        return Severity.NONE
    if count == 1:
        return Severity.LOW
    if count < 5:
        return Severity.MEDIUM
    return Severity.HIGH if count < 10 else Severity.CRITICAL


def regression_severity(*, persistent: Collection[str], new_collection_errors: Collection[str]) -> Severity:
    """Counts persistent new failures and new collection errors (each hides a whole module)."""
    return severity_for(len(persistent) + len(new_collection_errors))


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta:
    """Test ids (sorted) whose state changed between the baseline and the run's result."""

    newly_failing: tuple[str, ...]  # failed or errored now, did not at base (new tests included)
    newly_passing: tuple[str, ...]  # failed or errored at base, pass now
    new_collection_errors: tuple[str, ...]  # collectors (modules) that fail to collect only now
    new_setup_errors: tuple[str, ...]  # the part of newly_failing that errored in setup/teardown
    still_failing: tuple[str, ...]  # failed or errored at base and now


def compute_delta(baseline: Mapping[str, TestOutcome], after: Mapping[str, TestOutcome]) -> Delta:
    """Compare two result sets; a test missing from one side counts as not failing there."""

    def failing(results: Mapping[str, TestOutcome]) -> set[str]:
        return {key for key, outcome in results.items() if outcome.is_failing}

    def collection_errors(results: Mapping[str, TestOutcome]) -> set[str]:
        return {key for key, outcome in results.items() if outcome is TestOutcome.COLLECTION_ERROR}

    was_failing, now_failing = failing(baseline), failing(after)
    newly_failing = now_failing - was_failing
    passing_now = {key for key, outcome in after.items() if outcome is TestOutcome.PASSED}
    return Delta(
        newly_failing=tuple(sorted(newly_failing)),
        newly_passing=tuple(sorted(was_failing & passing_now)),
        new_collection_errors=tuple(sorted(collection_errors(after) - collection_errors(baseline))),
        new_setup_errors=tuple(sorted(key for key in newly_failing if after[key] is TestOutcome.ERROR)),
        still_failing=tuple(sorted(was_failing & now_failing)),
    )


def not_passed(ids: Iterable[str], retry: Mapping[str, TestOutcome]) -> tuple[str, ...]:
    """The ids that did not pass on a retry; one missing from the retry's report did not pass."""
    return tuple(key for key in ids if retry.get(key) is not TestOutcome.PASSED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A delta with its newly failing tests split by retries into flaky and persistent."""

    delta: Delta
    flaky: tuple[str, ...]  # failed, then passed on a retry
    persistent: tuple[str, ...]  # failed on every retry
    retry_rounds: int

    @property
    def severity(self) -> Severity:
        """regression_severity of the persistent new failures and new collection errors."""
        return regression_severity(
            persistent=self.persistent, new_collection_errors=self.delta.new_collection_errors
        )

    @property
    def is_regressed(self) -> bool:
        """Persistent new failures or new collection errors: the run broke something."""
        return bool(self.persistent or self.delta.new_collection_errors)

    def summary(self) -> str:
        """Short form for tables: `+2 \N{MINUS SIGN}1 (1 flaky)` (broken, fixed); `0` when nothing changed."""
        broken, fixed = (
            len(self.persistent) + len(self.delta.new_collection_errors),
            len(self.delta.newly_passing),
        )
        parts = [f"+{broken}"] if broken else []
        parts += [f"\u2212{fixed}"] if fixed else []
        text = " ".join(parts) or "0"
        return f"{text} ({len(self.flaky)} flaky)" if self.flaky else text

    def to_json(self) -> dict[str, object]:
        """The delta.json document (without run-level fields)."""
        delta = self.delta
        return {
            "regressed": self.is_regressed,
            "severity": self.severity.value,
            "summary": self.summary(),
            "counts": {
                "newly_failing": len(delta.newly_failing),
                "persistent": len(self.persistent),
                "flaky": len(self.flaky),
                "newly_passing": len(delta.newly_passing),
                "new_collection_errors": len(delta.new_collection_errors),
                "new_setup_errors": len(delta.new_setup_errors),
                "still_failing": len(delta.still_failing),
            },
            "retry_rounds": self.retry_rounds,
            "newly_failing_persistent": list(self.persistent),
            "flaky": list(self.flaky),
            "newly_failing": list(delta.newly_failing),
            "newly_passing": list(delta.newly_passing),
            "new_collection_errors": list(delta.new_collection_errors),
            "new_setup_errors": list(delta.new_setup_errors),
            "still_failing": list(delta.still_failing),
        }


def classify(delta: Delta, retries: Sequence[Mapping[str, TestOutcome]]) -> Verdict:
    """Apply retry rounds in order: a newly failing test that passes in any round is flaky."""
    remaining = delta.newly_failing
    for retry in retries:
        remaining = not_passed(remaining, retry)
    persistent = set(remaining)
    return Verdict(
        delta=delta,
        flaky=tuple(key for key in delta.newly_failing if key not in persistent),
        persistent=remaining,
        retry_rounds=len(retries),
    )


def retry_and_classify(
    delta: Delta, *, retries: int, rerun: Callable[[int, tuple[str, ...]], Mapping[str, TestOutcome]]
) -> Verdict:
    """Rerun the newly failing tests not yet passed, up to `retries` rounds, then classify.

    `rerun(round_number, ids)` runs those ids once (rounds numbered from 1) and returns their outcomes;
    an id missing from them did not pass. Stops early once every newly failing test has passed.
    """
    rounds: list[Mapping[str, TestOutcome]] = []
    remaining = delta.newly_failing
    for number in range(1, retries + 1):
        if not remaining:
            break
        outcomes = rerun(number, remaining)
        rounds.append(outcomes)
        remaining = not_passed(remaining, outcomes)
    return classify(delta, rounds)
