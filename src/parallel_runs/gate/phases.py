"""Test phases: run a test command once and read its report; baselines computed once and cached.

The baseline of one (base commit, test command, relevant environment) is computed once, in a clean
detached worktree of the base commit, under a file lock that concurrent runs (threads or processes)
wait on, and cached as `<runs dir>/baselines/<key>.json`. Every test phase deletes its own report
files first and runs through `process.run_command` (own process group, killed on timeout); pytest
is told to write JUnit XML through PYTEST_ADDOPTS, whatever wraps it. A missing or unparsable
report makes the phase unavailable, never "no failures".
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from parallel_runs.core.command import GIT_REDIRECTIONS
from parallel_runs.core.junit import TestReportError
from parallel_runs.core.suite import (
    UNITTEST_MODULE,
    TestResults,
    TestSpec,
    is_pytest_command,
    pytest_addopts,
    render_test_argv,
    runs_unittest,
)
from parallel_runs.files import append_log
from parallel_runs.gate.reports import (
    MAX_REPORT_BYTES,
    Stamps,
    read_report,
    read_reports,
    stamp,
    written_since,
)
from parallel_runs.gate.selection_plugin import SELECT_ENV
from parallel_runs.process import CommandResult, run_command

__all__ = [
    "BASELINES_DIR",
    "MAX_REPORT_BYTES",
    "Phase",
    "read_report",
    "run_phase",
]

log = logging.getLogger(__name__)

BASELINES_DIR = "baselines"
# A baseline belongs to no run: variables naming one run must not leak into it.
_RUN_ONLY = (
    "PARALLEL_RUNS_RUN_ID",
    "PARALLEL_RUNS_SLUG",
    "PARALLEL_RUNS_ATTEMPT",
    "PARALLEL_RUNS_ARTIFACTS_DIR",
)
# The selection plugin is copied beside the reports and imported under this name by the test
# process, not imported from our package: the test command may run in an interpreter where
# parallel_runs is not installed, and putting our site-packages on its PYTHONPATH would let our
# dependencies (pytest among them) shadow its own.
SELECT_PLUGIN_MODULE = "parallel_runs_select"


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """Where and how one test phase runs."""

    name: str  # baseline, after, retry-1, ...
    cwd: Path
    reports: Path  # directory of this phase's report files
    stem: str  # report files are <stem>.junit.xml and <stem>.pytest.json
    log: Path
    select: tuple[str, ...] = ()  # only these test ids (retries)


def _with_module(phase: Phase, environ: Mapping[str, str], *, source: str, module: str) -> str:
    """Copy one of our stand-alone modules beside the phase's reports; the PYTHONPATH that finds it."""
    plugins = phase.reports / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    plugin = resources.files("parallel_runs.gate").joinpath(source)
    (plugins / f"{module}.py").write_bytes(plugin.read_bytes())
    path = [str(plugins), *([environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else [])]
    return os.pathsep.join(dict.fromkeys(path))


def _selection_env(phase: Phase, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables that make a pytest run only the selected ids (through gate/selection_plugin.py)."""
    python_path = _with_module(phase, environ, source="selection_plugin.py", module=SELECT_PLUGIN_MODULE)
    selection = phase.reports / f"{phase.stem}.select"
    selection.write_text("".join(f"{key}\n" for key in phase.select), encoding="utf-8")
    loaded = [name for name in environ.get("PYTEST_PLUGINS", "").split(",") if name.strip()]
    return {
        SELECT_ENV: str(selection),
        "PYTEST_PLUGINS": ",".join([*loaded, SELECT_PLUGIN_MODULE]),
        "PYTHONPATH": python_path,
    }


def _phase_env(
    phase: Phase, spec: TestSpec, environ: Mapping[str, str], reports: tuple[Path, Path]
) -> dict[str, str]:
    dropped = (*GIT_REDIRECTIONS, *(_RUN_ONLY if phase.name == "baseline" else ()))
    env = {key: value for key, value in environ.items() if key not in dropped}
    env.update(
        PARALLEL_RUNS_JUNIT=str(reports[0]),
        PARALLEL_RUNS_JSON_REPORT=str(reports[1]),
        PARALLEL_RUNS_TEST_PHASE=phase.name,
        PARALLEL_RUNS_WORKSPACE=str(phase.cwd),
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ left in the run's worktree (and on its branch)
        PYTEST_ADDOPTS=pytest_addopts(env.get("PYTEST_ADDOPTS"), junit=reports[0]),
    )
    if phase.select and is_pytest_command(spec.command):
        env.update(_selection_env(phase, env))
    if runs_unittest(spec.command):
        env["PYTHONPATH"] = _with_module(phase, env, source="unittest_report.py", module=UNITTEST_MODULE)
    return env


def _results(
    phase: Phase, spec: TestSpec, *, reports: tuple[Path, Path], before: Stamps, ended: CommandResult
) -> TestResults:
    """What a finished phase tells: its reports' outcomes, or why there are none."""
    command, exit_code = spec.command.describe(), ended.exit_code

    def unavailable(reason: str) -> TestResults:
        return TestResults(
            phase=phase.name,
            command=command,
            exit_code=exit_code,
            outcomes=None,
            reason=reason,
            timed_out=ended.timed_out,
        )

    if ended.start_error is not None:
        return unavailable(ended.start_error)
    if ended.timed_out:  # whatever report exists may be partial
        return unavailable(
            f"the test command timed out after {spec.timeout:g}s (its process group was killed)"
        )
    found = [path for path in reports if path.exists()]
    found += written_since(phase.cwd, spec.report_globs, before)
    if not found:
        return unavailable(
            f"the test command (exit code {exit_code}) wrote no report: pytest writes one by itself "
            "(through PYTEST_ADDOPTS); another runner must write JUnit XML to $PARALLEL_RUNS_JUNIT or name "
            "its files with --test-report GLOB"
        )
    try:
        parsed, kinds = read_reports(found)
    except (TestReportError, OSError) as exc:
        return unavailable(f"unusable report: {exc}")
    return TestResults(
        phase=phase.name,
        command=command,
        exit_code=exit_code,
        outcomes=parsed.outcomes,
        report_format=kinds,
        failures=parsed.failures,
    )


def run_phase(
    phase: Phase,
    *,
    spec: TestSpec,
    environ: Mapping[str, str],
    grace: float,
    on_start: Callable[[int], None] | None = None,
) -> TestResults:
    """Run the test command once (stale reports deleted first) and read the reports it leaves.

    `grace`: seconds between SIGTERM and SIGKILL when the command times out or is interrupted.
    """
    reports = (phase.reports / f"{phase.stem}.junit.xml", phase.reports / f"{phase.stem}.pytest.json")
    phase.reports.mkdir(parents=True, exist_ok=True)
    for stale in reports:
        stale.unlink(missing_ok=True)
    before = stamp(phase.cwd, spec.report_globs)
    argv = render_test_argv(spec.command, junit=reports[0])
    shown = argv[2] if spec.command.shell is not None else shlex.join(argv)
    selected = f", {len(phase.select)} selected tests" if phase.select else ""
    append_log(phase.log, f"\n===== parallel-runs: tests ({phase.name}{selected}) in {phase.cwd}: {shown}\n")
    ended = run_command(
        argv,
        cwd=phase.cwd,
        env=_phase_env(phase, spec, environ, reports),
        log_path=phase.log,
        timeout=spec.timeout,
        grace=grace,
        on_start=on_start,
    )
    results = _results(phase, spec, reports=reports, before=before, ended=ended)
    found = (
        f"{len(results.outcomes)} tests" if results.outcomes is not None else f"unavailable: {results.reason}"
    )
    append_log(phase.log, f"===== parallel-runs: tests ({phase.name}) exit code {ended.exit_code}; {found}\n")
    return results
