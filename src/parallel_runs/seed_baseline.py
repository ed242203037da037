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
from parallel_runs.config import resolve_runs_dir
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.delta import compute_delta, not_passed, severity_for
from parallel_runs.core.ids import slugify
from parallel_runs.core.junit import TestOutcome, TestReportError, parse_report
from parallel_runs.core.suite import TestSpec, baseline_key
from parallel_runs.phases import MAX_REPORT_BYTES, Phase, ensure_baseline, run_phase, write_json

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
        return json.dumps(asdict(self) | {"timestamp": self.timestamp.isoformat()}, indent=2)

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
        return severity_for(
            len(self.newly_failing_persistent) + len(self.new_collection_errors_persistent)
        ).value


def _seed_baseline(run_id: str, sha: str, outcomes: Mapping[str, TestOutcome]) -> TestBaseline:
    values = list(outcomes.values())
    collection = [key for key, outcome in outcomes.items() if outcome is TestOutcome.COLLECTION_ERROR]
    errors = [key for key, outcome in outcomes.items() if outcome is TestOutcome.ERROR]
    return TestBaseline(
        run_id=run_id,
        commit_sha=sha,
        timestamp=datetime.now(UTC),
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
        git.ensure_excluded(self.repo, self.runs_dir)  # DESIGN §1: a runs dir inside the repo is excluded
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
        """Test results at `commit_sha` (cached); TestReportError when the tests wrote no usable report."""
        sha = git.resolve_commit(self.repo, commit_sha)
        cache_file = self.cache_dir / f"{sha}.json"  # the seed's name; the key inside tells commands apart
        key = baseline_key(base_sha=sha, spec=self.spec, environ=self.environ)
        if cache_file.exists():
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
            if cached.pop("baseline_key", None) == key:  # another test command's baseline is not this one
                return TestBaseline.from_json(json.dumps(cached))
        baseline = ensure_baseline(
            repo=self.repo,
            runs_dir=self.runs_dir,
            base_sha=sha,
            spec=replace(self.spec, timeout=timeout),
            environ=self.environ,
            log_path=self.log_path,
        )
        if baseline.results.outcomes is None:
            raise TestReportError(
                f"no baseline for {sha[:12]}: {baseline.results.reason} (log: {self.log_path})"
            )
        result = _seed_baseline(run_id, sha, baseline.results.outcomes)
        write_json(cache_file, json.loads(result.to_json()) | {"baseline_key": key})
        return result

    def diff(self, baseline: TestBaseline, current_report_path: str | PathLike[str]) -> TestDelta:
        """Newly failing, newly passing and new collection errors of a report (JUnit XML or pytest-json)."""
        path = Path(current_report_path)
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise TestReportError(f"report {path} is larger than {MAX_REPORT_BYTES} bytes")
        delta = compute_delta(baseline.outcomes(), parse_report(path.read_bytes()))
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
        results = run_phase(phase, spec=replace(self.spec, timeout=timeout), environ=self.environ)
        passed = set(newly_failing) - set(not_passed(newly_failing, results.outcomes or {}))
        return {key: "passed" if key in passed else "failed" for key in newly_failing}

    def compute_full_delta(
        self, baseline: TestBaseline, current_report_path: str | PathLike[str], workspace: str | PathLike[str]
    ) -> TestDelta:
        """diff(), newly failing tests retried (`retries` times) into flaky and persistent, severity."""
        delta = self.diff(baseline, current_report_path)
        remaining = list(delta.newly_failing)
        for _ in range(self.spec.retries):
            if not remaining:
                break
            outcomes = self.retry_newly_failing(remaining, workspace)
            remaining = [key for key in remaining if outcomes.get(key) != "passed"]
        delta.newly_failing_persistent = remaining
        delta.flaky_suspects = [key for key in delta.newly_failing if key not in set(remaining)]
        delta.new_collection_errors_persistent = list(delta.new_collection_errors)
        delta.regression_severity = delta.calculate_severity()
        return delta
