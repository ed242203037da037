"""Before any run starts: the baseline, computed once, must be able to judge the runs.

A test command that is not found, crashes, writes no report, or collects or passes no test at
the base commit would judge nothing: every run would pass. The batch stops instead (exit 2), with
one line saying what the command did and how to fix it (gate/rules.py has the cases).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS
from parallel_runs.core.suite import TestSpec, baseline_key
from parallel_runs.errors import BaselineError
from parallel_runs.files import read_tail
from parallel_runs.gate.baseline import Baseline, baseline_log, ensure_baseline
from parallel_runs.gate.rules import baseline_problem, is_acceptable

__all__ = ["baseline_log_of", "check_baseline", "last_output"]

_MARK = "===== parallel-runs: "
_TAIL_BYTES = 64 * 1024
_TAIL_CHARS = 300


def last_output(log: Path, *, lines: int = 3) -> str:
    """The last lines the latest test phase in `log` printed, on one line (`a | b | c`)."""
    read = read_tail(log, limit=_TAIL_BYTES)
    if read is None:
        return ""
    text_lines = read[0].splitlines()
    headers = [n for n, line in enumerate(text_lines) if line.startswith(_MARK) and ") in " in line]
    phase = text_lines[headers[-1] + 1 :] if headers else text_lines  # the latest phase's output
    printed = [line.strip() for line in phase if line.strip() and not line.startswith(_MARK)]
    tail = " | ".join(printed[-lines:])
    return tail if len(tail) <= _TAIL_CHARS else "\u2026" + tail[-_TAIL_CHARS:]


def check_baseline(
    *,
    repo: Path,
    runs_dir: Path,
    base_sha: str,
    spec: TestSpec,
    environ: Mapping[str, str],
    grace: float = DEFAULT_GRACE_SECONDS,
    on_start: Callable[[int], None] | None = None,
) -> Baseline:
    """The batch's baseline (cached, else computed now); BaselineError when it cannot judge runs."""
    baseline = ensure_baseline(
        repo=repo,
        runs_dir=runs_dir,
        base_sha=base_sha,
        spec=spec,
        environ=environ,
        grace=grace,
        on_start=on_start,
        # A bad cached one is computed again.
        accept=lambda results: is_acceptable(results, allow_empty=spec.allow_empty_baseline),
    )
    problem = baseline_problem(baseline.results)
    if problem is None or (problem.overridable and spec.allow_empty_baseline):
        return baseline
    log = baseline_log(runs_dir, baseline.key)
    printed = last_output(log)
    raise BaselineError(
        f"the test command `{spec.command.describe()}` {problem.what} at the base commit {base_sha[:12]}, "
        f"so it cannot judge the runs; no run was started. It printed: "
        f"{printed or '(nothing)'}. Fix: {problem.fix}. Its output: {log}"
    )


def baseline_log_of(*, runs_dir: Path, base_sha: str, spec: TestSpec, environ: Mapping[str, str]) -> Path:
    """Where the baseline of this batch writes the test command's output."""
    return baseline_log(runs_dir, baseline_key(base_sha=base_sha, spec=spec, environ=environ))
