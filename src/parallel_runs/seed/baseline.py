"""The seed's `TestBaselineTracker` API (Autopack BUILD-127) on top of parallel-runs' test phases.

Differences from the seed, on purpose: the baseline is taken in a clean detached worktree of the
commit (not in `workspace` as it stands), cached per (commit, command, environment) under a lock,
and reports live under the runs dir (never inside the worktree); any test runner that writes JUnit
XML works; ids are `classname::name`; a missing report raises instead of reading a stale one;
collection errors are not retried (they are deterministic), so each new one is persistent.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

from parallel_runs import git
from parallel_runs.config import DEFAULT_GRACE_SECONDS, resolve_runs_dir
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.ids import slugify
from parallel_runs.core.junit import TestOutcome, TestReportError, parse_report
from parallel_runs.core.suite import TestSpec
from parallel_runs.files import write_json
from parallel_runs.gate.baseline import ensure_baseline
from parallel_runs.gate.delta import (
    Delta,
    Verdict,
    compute_delta,
    not_passed,
    regression_severity,
    retry_and_classify,
)
from parallel_runs.gate.phases import Phase, read_report, run_phase

__all__ = ["TestBaseline", "TestBaselineTracker", "TestDelta"]

DEFAULT_TEST_COMMAND = f"{shlex.quote(sys.executable)} -m pytest --tb=line -q tests/"
_COLLECT = "COLLECT:"


@dataclass
class TestBaseline:
    """Baseline test results for a specific commit (the seed's shape)."""

    __test__ = False  # not a pytest test class

    run_id: str
    commit_sha: str
    timestamp: datetime
    total_tests: int
    passing_tests: int
    failing_tests: int
    error_tests: int
    skipped_tests: int
    failing_test_ids: list[str] = field(default_factory=list)
    error_signatures: dict[str, str] = field(default_factory=dict)  # id -> "COLLECT:..." or "ERROR"

    def to_json(self) -> str:
        """Serialize for caching."""
        return json.dumps(self._document(), indent=2)

    def _document(self) -> dict[str, object]:
        return asdict(self) | {"timestamp": self.timestamp.isoformat()}

    @classmethod
    def from_json(cls, json_str: str) -> TestBaseline:
        """Deserialize from cache."""
        data = json.loads(json_str)
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
        return cls(**data)

    def outcomes(self) -> dict[str, TestOutcome]:
        """The failing tests and collection errors, as a result set to compare against."""
        failing = dict.fromkeys(self.failing_test_ids, TestOutcome.FAILED)
        collection = {
            k: TestOutcome.COLLECTION_ERROR
            for k, v in self.error_signatures.items()
            if v.startswith(_COLLECT)
        }
        return failing | collection


@dataclass
class TestDelta:
    """Delta between baseline and current test results (the seed's shape)."""

    __test__ = False  # not a pytest test class

    newly_failing: list[str] = field(default_factory=list)
    newly_failing_persistent: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)
    new_collection_errors: list[str] = field(default_factory=list)
    new_collection_errors_persistent: list[str] = field(default_factory=list)
    flaky_suspects: list[str] = field(default_factory=list)
    regression_severity: str = "none"

    def calculate_severity(self) -> str:
        """Severity from persistent new failures plus persistent new collection errors."""
        return regression_severity(
            persistent=self.newly_failing_persistent,
            new_collection_errors=self.new_collection_errors_persistent,
        ).value


def _seed_delta(verdict: Verdict) -> TestDelta:
    delta = verdict.delta
    return TestDelta(
        newly_failing=list(delta.newly_failing),
        newly_failing_persistent=list(verdict.persistent),
        newly_passing=list(delta.newly_passing),
        new_collection_errors=list(delta.new_collection_errors),
        new_collection_errors_persistent=list(delta.new_collection_errors),  # never retried: all persistent
        flaky_suspects=list(verdict.flaky),
        regression_severity=verdict.severity.value,
    )


def _seed_baseline(
    run_id: str, sha: str, outcomes: Mapping[str, TestOutcome], *, timestamp: datetime
) -> TestBaseline:
    values = list(outcomes.values())
    collection = [key for key, outcome in outcomes.items() if outcome is TestOutcome.COLLECTION_ERROR]
    errors = [key for key, outcome in outcomes.items() if outcome is TestOutcome.ERROR]
    return TestBaseline(
        run_id=run_id,
        commit_sha=sha,
        timestamp=timestamp,
        total_tests=len(values) - len(collection),
        passing_tests=values.count(TestOutcome.PASSED),
        failing_tests=values.count(TestOutcome.FAILED),
        error_tests=len(errors) + len(collection),
        skipped_tests=values.count(TestOutcome.SKIPPED),
        failing_test_ids=sorted(key for key, outcome in outcomes.items() if outcome.is_failing),
        error_signatures={key: "ERROR" for key in errors} | {key: f"{_COLLECT}{key}" for key in collection},
    )


def _runs_dir_for(workspace: Path, flag: str | None, environ: Mapping[str, str], *, repo: Path) -> Path:
    """`flag`, else the runs dir of a managed worktree `<runs>/workspaces/<slug>`, else the default."""
    if flag is None and workspace.parent.name == "workspaces":
        # A run's worktree is a repository root of its own: its runs dir is the one it lives in.
        runs_dir = workspace.parent.parent
        real = Path(os.path.realpath(workspace))
        if any(info.path == real for info in git.list_managed_worktrees(repo, runs_dir)):
            return runs_dir
    return resolve_runs_dir(flag, environ, cwd=Path.cwd(), repo=repo)


class TestBaselineTracker:
    """Tracks test baselines and computes regression deltas (seed-compatible)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        workspace: str | PathLike[str],
        run_id: str | None = None,
        *,
        test_command: str | None = None,
        runs_dir: str | PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        retries: int = 1,
    ) -> None:
        # Like the seed's other classes this is an entry point: it may read the caller's environment.
        self.environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
        self.workspace = Path(os.path.abspath(workspace))
        self.run_id = run_id
        self.repo = git.repo_root(self.workspace)
        raw = os.fspath(runs_dir) if runs_dir is not None else None
        self.runs_dir = _runs_dir_for(self.workspace, raw, self.environ, repo=self.repo)
        git.ensure_excluded(self.repo, self.runs_dir)  # CONTRACTS §1: excluded inside the repo
        if run_id:  # run-scoped (parallel-safe); else the seed's legacy global directory
            self.cache_dir = self.runs_dir / slugify(run_id) / "baselines"
        else:
            self.cache_dir = self.runs_dir / "baselines"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.spec = TestSpec(command=CommandSpec(shell=test_command or DEFAULT_TEST_COMMAND), retries=retries)

    @property
    def log_path(self) -> Path:
        """Where the test commands' output goes."""
        return self.cache_dir / "tests.log"

    def capture_baseline(self, run_id: str, commit_sha: str, timeout: int = 120) -> TestBaseline:
        """Test results at `commit_sha` (cached); TestReportError when the tests wrote no usable report.

        The cache is ensure_baseline's, keyed by (commit, command, environment); its `timestamp` is when
        the baseline was computed. `<sha>.json` in `cache_dir` is written for the seed's readers only.
        """
        sha = git.resolve_commit(self.repo, commit_sha)
        baseline = ensure_baseline(
            repo=self.repo,
            runs_dir=self.runs_dir,
            base_sha=sha,
            spec=replace(self.spec, timeout=timeout),
            environ=self.environ,
            log_path=self.log_path,
            grace=DEFAULT_GRACE_SECONDS,
        )
        if baseline.results.outcomes is None:
            raise TestReportError(
                f"no baseline for {sha[:12]}: {baseline.results.reason} (log: {self.log_path})"
            )
        computed = baseline.computed_at
        timestamp = datetime.now(UTC) if computed is None else datetime.fromtimestamp(computed, UTC)
        result = _seed_baseline(run_id, sha, baseline.results.outcomes, timestamp=timestamp)
        # The seed's file name; the key inside tells test commands apart.
        write_json(self.cache_dir / f"{sha}.json", result._document() | {"baseline_key": baseline.key})
        return result

    def _delta(self, baseline: TestBaseline, current_report_path: str | PathLike[str]) -> Delta:
        return compute_delta(baseline.outcomes(), read_report(Path(current_report_path), parse_report))

    def diff(self, baseline: TestBaseline, current_report_path: str | PathLike[str]) -> TestDelta:
        """Newly failing, newly passing and new collection errors of a report (JUnit XML or pytest-json)."""
        delta = self._delta(baseline, current_report_path)
        return TestDelta(
            newly_failing=list(delta.newly_failing),
            newly_passing=list(delta.newly_passing),
            new_collection_errors=list(delta.new_collection_errors),
        )

    def retry_newly_failing(
        self, newly_failing: list[str], workspace: str | PathLike[str], timeout: int = 60
    ) -> dict[str, str]:
        """Run the given tests once more in `workspace`: {id: 'passed' | 'failed'}."""
        if not newly_failing:
            return {}
        phase = Phase(
            name="retry",
            cwd=Path(os.path.abspath(workspace)),
            reports=self.cache_dir / "reports",
            stem="retry",
            log=self.log_path,
            select=tuple(newly_failing),
        )
        spec = replace(self.spec, timeout=timeout)
        results = run_phase(phase, spec=spec, environ=self.environ, grace=DEFAULT_GRACE_SECONDS)
        failed = set(not_passed(newly_failing, results.outcomes or {}))
        return {key: "failed" if key in failed else "passed" for key in newly_failing}

    def compute_full_delta(
        self, baseline: TestBaseline, current_report_path: str | PathLike[str], workspace: str | PathLike[str]
    ) -> TestDelta:
        """diff(), newly failing tests retried (`retries` times) into flaky and persistent, severity."""

        def rerun(_round: int, ids: tuple[str, ...]) -> Mapping[str, TestOutcome]:
            answers = self.retry_newly_failing(list(ids), workspace)  # the seed's hook, kept overridable
            return {key: TestOutcome.PASSED for key, answer in answers.items() if answer == "passed"}

        delta = self._delta(baseline, current_report_path)
        return _seed_delta(retry_and_classify(delta, retries=self.spec.retries, rerun=rerun))
