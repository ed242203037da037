"""Did a run break tests that passed before? `evaluate_tests` for the run pipeline (issue #5).

Baseline at the base commit (computed once, cached) → the same test command in the run's worktree
→ delta, newly failing tests retried and split into flaky and persistent. A test phase that crashed
or wrote no report, where the baseline had one, is never "no failures" (gate/rules.py). Writes the
run's `ci/baseline.json`, `ci/after.json` and `ci/delta.json`; test output goes to its `run.log`.
Test ids are shown as the runner names them (pytest node ids), with their failure messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS
from parallel_runs.core.junit import Failure, TestOutcome
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.suite import TestResults, TestSpec
from parallel_runs.files import append_log, write_json
from parallel_runs.gate.baseline import Baseline, baseline_log, ensure_baseline
from parallel_runs.gate.delta import Severity, Verdict, compute_delta, retry_and_classify
from parallel_runs.gate.environments import with_worktree_venv
from parallel_runs.gate.phases import Phase, run_phase
from parallel_runs.gate.preflight import last_output
from parallel_runs.gate.rules import crash_of, is_acceptable, is_judged_by_exit_status

__all__ = ["TestEvaluation", "TestStatus", "evaluate_tests"]

log = logging.getLogger(__name__)

SUMMARY_MESSAGES = 20  # failure messages kept with the attempt's record (ci/delta.json has them all)


class TestStatus(StrEnum):
    """What the tests say about a run."""

    __test__ = False  # not a pytest test class

    PASSED = "passed"  # no persistent new failure, no new collection error
    REGRESSED = "regressed"  # persistent new failures, new collection or setup errors
    CRASHED = "tests_crashed"  # the baseline had a report; the run's tests wrote none or crashed
    FAILED = "tests_failed"  # judged by exit status (no per-test report at base): exit 0 before, not after
    IMPORTED_ELSEWHERE = "tests_imported_elsewhere"  # they tested code outside the run's worktree
    UNAVAILABLE = "tests_unavailable"  # a baseline the preflight refuses (timed out, unusable report)


@dataclass(frozen=True, slots=True, kw_only=True)
class TestEvaluation:
    """The tests' verdict on one attempt; `to_json()` is the ci/delta.json document."""

    __test__ = False  # not a pytest test class

    status: TestStatus
    reason: str | None  # why tests crashed or failed, or that they were judged by exit status
    verdict: Verdict | None  # None when crashed or judged by exit status
    base_sha: str
    baseline_key: str
    baseline_reused: bool  # taken from the cache, not computed for this run
    baseline_json: Path
    after_json: Path
    delta_json: Path
    known: Mapping[str, Failure] = field(default_factory=dict)  # failing ids at base or after: names
    judged_by: str | None = None  # TestSpec.signature
    test_command: str | None = None

    @property
    def is_regressed(self) -> bool:
        """True when gating should end the run `regressed`: it broke tests, or they crashed."""
        return self.status in (
            TestStatus.REGRESSED,
            TestStatus.CRASHED,
            TestStatus.FAILED,
            TestStatus.IMPORTED_ELSEWHERE,
        )

    def name_of(self, test_id: str) -> str:
        """A test as its runner names it (a pytest node id when the report names its file)."""
        failure = self.known.get(test_id)
        return failure.name if failure else test_id

    @property
    def failures(self) -> tuple[Failure, ...]:
        """The run's new failures, named by their runner, with their messages."""
        return tuple(self.known.get(key, Failure(key)) for key in self.new_failures)

    @property
    def severity(self) -> Severity:
        """none/low/medium/high/critical; none without a per-test verdict."""
        return self.verdict.severity if self.verdict else Severity.NONE

    @property
    def new_failures(self) -> tuple[str, ...]:
        """Test ids the run broke: persistent new failures, then new collection errors."""
        if self.verdict is None:
            return ()
        return (*self.verdict.persistent, *self.verdict.delta.new_collection_errors)

    @property
    def flaky(self) -> tuple[str, ...]:
        """Newly failing tests that passed on a retry."""
        return self.verdict.flaky if self.verdict else ()

    @property
    def summary(self) -> str:
        """The tests column: `+2 \N{MINUS SIGN}1 (1 flaky)`, `0`, `crashed`, `failed` or `exit 0`."""
        if self.verdict:
            return self.verdict.summary()
        words = {
            TestStatus.CRASHED: "crashed",
            TestStatus.FAILED: "failed",
            TestStatus.IMPORTED_ELSEWHERE: "imported elsewhere",
            TestStatus.UNAVAILABLE: "unavailable",
        }
        return words.get(self.status, "exit 0")

    def _named(self, value: object) -> object:
        return [self.name_of(item) for item in value] if isinstance(value, list) else value

    def to_json(self) -> dict[str, object]:
        """JSON-serialisable form (the ci/delta.json document); tests named as their runner names them."""
        failures = self.failures
        document: dict[str, object] = {
            "status": self.status.value,
            "reason": self.reason,
            "severity": self.severity.value,
            "summary": self.summary,
            "new_failures": [failure.name for failure in failures],
            "failures": [{"test": failure.name, "message": failure.message} for failure in failures],
            "messages": {failure.name: failure.message for failure in failures[:SUMMARY_MESSAGES]},
            "base_sha": self.base_sha,
            "baseline_key": self.baseline_key,
            "baseline_reused": self.baseline_reused,
            "baseline_json": str(self.baseline_json),
            "after_json": str(self.after_json),
            "delta_json": str(self.delta_json),
            "judged_by": self.judged_by,
            "test_command": self.test_command,
        }
        verdict = self.verdict.to_json() if self.verdict else {}
        return document | {key: self._named(value) for key, value in verdict.items()}


def _judge(
    baseline: TestResults,
    after: TestResults,
    *,
    spec: TestSpec,
    repo: Path,
    paths: RunPaths,
    workspace: Path,
    environ: Mapping[str, str],
    grace: float,
    on_start: Callable[[int], None] | None,
) -> tuple[TestStatus, Verdict | None, str | None]:
    """Status, verdict and (when crashed or judged by exit status) the reason; new failures are retried."""
    if after.imported_elsewhere:  # whatever its tests said, they said it of other code
        return TestStatus.IMPORTED_ELSEWHERE, None, after.imported_elsewhere
    if crashed := crash_of(after, baseline):
        return TestStatus.CRASHED, None, crashed
    if is_judged_by_exit_status(baseline):
        if after.exit_code == 0 and not after.timed_out:
            return TestStatus.PASSED, None, "judged by exit status (no per-test report): exit 0"
        said = last_output(paths.run_log)
        why = after.reason if after.timed_out or after.exit_code is None else f"exit {after.exit_code}"
        return TestStatus.FAILED, None, f"{why} (exit 0 at the base commit){f': {said}' if said else ''}"
    if baseline.outcomes is None or after.outcomes is None:  # a baseline the batch's preflight refuses
        return TestStatus.UNAVAILABLE, None, f"baseline: {baseline.reason}; after the run: {after.reason}"

    def rerun(number: int, ids: tuple[str, ...]) -> Mapping[str, TestOutcome]:
        name = f"retry-{number}"
        phase = Phase(
            name=name,
            cwd=workspace,
            reports=paths.ci_dir,
            stem=name,
            log=paths.run_log,
            select=ids,
            checkout=(repo, paths.runs_dir),
        )
        results = run_phase(phase, spec=spec, environ=environ, grace=grace, on_start=on_start)
        return results.outcomes or {}  # an unusable retry report proves nothing: still failing

    delta = compute_delta(baseline.outcomes or {}, after.outcomes)
    verdict = retry_and_classify(delta, retries=spec.retries, rerun=rerun)
    return (TestStatus.REGRESSED if verdict.is_regressed else TestStatus.PASSED), verdict, None


def _take_baseline(
    *,
    repo: Path,
    paths: RunPaths,
    base_sha: str,
    spec: TestSpec,
    environ: Mapping[str, str],
    grace: float,
    on_start: Callable[[int], None] | None,
) -> Baseline:
    """The baseline shared by every run of this base commit, copied to the run's ci/baseline.json."""
    baseline = ensure_baseline(
        repo=repo,
        runs_dir=paths.runs_dir,
        base_sha=base_sha,
        spec=spec,
        environ=environ,
        log_path=paths.run_log,
        grace=grace,
        on_start=on_start,
        # What the batch accepted before any run started (an empty one, if allowed) is not redone.
        accept=lambda results: is_acceptable(results, allow_empty=spec.allow_empty_baseline),
    )
    if baseline.reused:
        output = baseline_log(paths.runs_dir, baseline.key)
        append_log(
            paths.run_log,
            f"\n===== parallel-runs: tests (baseline) reused from {baseline.cache} (output: {output})\n",
        )
    origin = {
        "base_sha": base_sha,
        "key": baseline.key,
        "cache": str(baseline.cache),
        "reused": baseline.reused,
    }
    write_json(paths.baseline_json, baseline.results.to_json() | origin)
    return baseline


def evaluate_tests(
    *,
    repo: Path,
    paths: RunPaths,
    workspace: Path,
    base_sha: str,
    spec: TestSpec,
    environ: Mapping[str, str],
    grace: float = DEFAULT_GRACE_SECONDS,
    on_start: Callable[[int], None] | None = None,
) -> TestEvaluation:
    """Baseline (cached per base commit) → after → delta with retries; writes the run's ci/*.json.

    `grace`: seconds between SIGTERM and SIGKILL when a test phase times out or is interrupted.
    """
    for stale in (paths.baseline_json, paths.after_json, paths.delta_json):
        stale.unlink(missing_ok=True)  # an earlier attempt's files must never pass for this one's
    baseline = _take_baseline(
        repo=repo, paths=paths, base_sha=base_sha, spec=spec, environ=environ, grace=grace, on_start=on_start
    )
    after_phase = Phase(
        name="after",
        cwd=workspace,
        reports=paths.ci_dir,
        stem="after",
        log=paths.run_log,
        checkout=(repo, paths.runs_dir),
    )
    # The run's own .venv first for its phases; not for the baseline's key, shared by every run.
    environ = with_worktree_venv(environ, workspace)
    after = run_phase(after_phase, spec=spec, environ=environ, grace=grace, on_start=on_start)
    write_json(paths.after_json, after.to_json())
    status, verdict, reason = _judge(
        baseline.results,
        after,
        spec=spec,
        repo=repo,
        paths=paths,
        workspace=workspace,
        environ=environ,
        grace=grace,
        on_start=on_start,
    )
    evaluation = TestEvaluation(
        status=status,
        reason=reason,
        verdict=verdict,
        base_sha=base_sha,
        baseline_key=baseline.key,
        baseline_reused=baseline.reused,
        baseline_json=paths.baseline_json,
        after_json=paths.after_json,
        delta_json=paths.delta_json,
        known={**baseline.results.failures, **after.failures},
        judged_by=spec.signature,
        test_command=spec.command.describe(),
    )
    write_json(paths.delta_json, evaluation.to_json())
    log.info("tests of %s: %s (%s)", paths.slug, status.value, reason or evaluation.summary)
    return evaluation
