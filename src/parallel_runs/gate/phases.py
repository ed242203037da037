"""Test phases: run a test command once and read its report; baselines computed once and cached.

The baseline of one (base commit, test command, relevant environment) is computed once, in a clean
detached worktree of the base commit, under a file lock that concurrent runs (threads or processes)
wait on, and cached as `<runs dir>/baselines/<key>.json`. Every test phase deletes its own report
files first and runs through `process.run_command` (own process group, killed on timeout); pytest
is told to write JUnit XML through PYTEST_ADDOPTS, whatever wraps it. A missing or unparsable
report makes the phase unavailable, never "no failures".
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from parallel_runs.core.command import GIT_REDIRECTIONS
from parallel_runs.core.junit import TestReportError
from parallel_runs.core.suite import (
    UNITTEST_MODULE,
    UNUSABLE_REPORT,
    TestResults,
    TestSpec,
    is_pytest_command,
    pytest_addopts,
    render_test_argv,
    runs_unittest,
)
from parallel_runs.files import append_log, write_atomically
from parallel_runs.gate.import_hook import IMPORTS_ENV, ROOTS_ENV
from parallel_runs.gate.reports import (
    MAX_REPORT_BYTES,
    Stamps,
    read_report,
    read_reports,
    stamp,
    written_since,
)
from parallel_runs.gate.selection_plugin import SELECT_ENV
from parallel_runs.gate.sources import ImportMapping, import_mapping
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
_PLUGINS = (
    ("selection_plugin.py", SELECT_PLUGIN_MODULE),
    ("import_hook.py", "sitecustomize"),
    ("unittest_report.py", UNITTEST_MODULE),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """Where and how one test phase runs."""

    name: str  # baseline, after, retry-1, ...
    cwd: Path
    reports: Path  # directory of this phase's report files
    stem: str  # report files are <stem>.junit.xml and <stem>.pytest.json
    log: Path
    select: tuple[str, ...] = ()  # only these test ids (retries)
    # The source checkout and the runs directory: the code under test must come from neither, but
    # from `cwd` (gate/sources.py maps editable installs there; gate/import_hook.py checks). None: no check.
    checkout: tuple[Path, Path] | None = None

    @property
    def imports(self) -> Path:
        """Where the phase's Pythons record what they imported from elsewhere (gate/import_hook.py)."""
        return self.reports / f"{self.stem}.imports.jsonl"


def _plugins(phase: Phase) -> Path:
    """The directory, first on the phase's PYTHONPATH, of the selection plugin, the import hook and the
    unittest reporter."""
    plugins = phase.reports / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    package = resources.files("parallel_runs.gate")
    for source, name in _PLUGINS:  # phases sharing the directory (threads too) never read half a file
        write_atomically(plugins / f"{name}.py", package.joinpath(source).read_bytes())
    return plugins


def _python_path(phase: Phase, mapping: ImportMapping, environ: Mapping[str, str]) -> dict[str, str]:
    """Our plugins first, then the worktree's paths for what points into the checkout, then the caller's."""
    inherited = [environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else []
    path = [str(_plugins(phase)), *mapping.paths_in(phase.cwd), *inherited]
    env = {"PYTHONPATH": os.pathsep.join(path)}
    if phase.checkout is not None:
        phase.imports.unlink(missing_ok=True)
        foreign = [str(path) for path in phase.checkout]
        env.update(
            {
                IMPORTS_ENV: str(phase.imports),
                ROOTS_ENV: json.dumps({"own": [str(phase.cwd)], "foreign": foreign}),
            }
        )
    return env


def _selection_env(phase: Phase, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables that make a pytest run only the selected ids (through gate/selection_plugin.py)."""
    selection = phase.reports / f"{phase.stem}.select"
    selection.write_text("".join(f"{key}\n" for key in phase.select), encoding="utf-8")
    loaded = [name for name in environ.get("PYTEST_PLUGINS", "").split(",") if name.strip()]
    return {SELECT_ENV: str(selection), "PYTEST_PLUGINS": ",".join([*loaded, SELECT_PLUGIN_MODULE])}


def _phase_env(
    phase: Phase,
    spec: TestSpec,
    environ: Mapping[str, str],
    *,
    reports: tuple[Path, Path],
    mapping: ImportMapping,
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
    selected = bool(phase.select) and is_pytest_command(spec.command)
    if selected or phase.checkout is not None:
        env.update(_python_path(phase, mapping, env))
    if selected:
        env.update(_selection_env(phase, env))
    return env


def _mapping_of(phase: Phase, spec: TestSpec, environ: Mapping[str, str]) -> ImportMapping:
    if phase.checkout is None:
        return ImportMapping()
    repo, runs_dir = phase.checkout
    return import_mapping(command=spec.command.describe(), environ=environ, repo=repo, runs_dir=runs_dir)


def imported_elsewhere(phase: Phase) -> tuple[int, str | None]:
    """How many Pythons of the phase recorded their imports, and what they imported from elsewhere."""
    try:
        lines = phase.imports.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0, None
    found: dict[str, str] = {}
    for line in lines:
        try:
            found.update(json.loads(line).get("imported") or {})
        except (ValueError, AttributeError, TypeError):
            continue  # a process killed mid-line
    if not found:
        return len(lines), None
    runs_dir = phase.checkout[1] if phase.checkout else None
    shown = sorted(found.items(), key=lambda item: (item[0].count("."), item[0]))[:3]

    def whose(path: str) -> str:
        inside = runs_dir is not None and Path(path).is_relative_to(os.path.realpath(runs_dir))
        return "another worktree's" if inside else "the source checkout's"

    named = ", ".join(f"{name} from {path} ({whose(path)})" for name, path in shown)
    return len(lines), f"{named}, not from {phase.cwd}"


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
        return unavailable(f"{UNUSABLE_REPORT}: {exc}")
    return TestResults(
        phase=phase.name,
        command=command,
        exit_code=exit_code,
        outcomes=parsed.outcomes,
        report_format=kinds,
        failures=parsed.failures,
    )


def _checked(phase: Phase, results: TestResults) -> TestResults:
    """The results with what the phase imported from elsewhere; the run's log says what was checked."""
    processes, elsewhere = imported_elsewhere(phase)
    if processes == 0:
        said = (
            "not checked: no Python of the test command loaded parallel-runs' sitecustomize (not a Python "
            "suite, or the command replaced PYTHONPATH)"
        )
    else:
        said = f"checked in {processes} Python process(es): {elsewhere or 'all from this worktree'}"
    append_log(phase.log, f"===== parallel-runs: imports of the code under test {said}\n")
    return replace(results, imported_elsewhere=elsewhere) if elsewhere else results


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
    reporter = _plugins(phase) / f"{UNITTEST_MODULE}.py" if runs_unittest(spec.command) else None
    argv = render_test_argv(spec.command, junit=reports[0], unittest_reporter=reporter)
    shown = argv[2] if spec.command.shell is not None else shlex.join(argv)
    selected = f", {len(phase.select)} selected tests" if phase.select else ""
    append_log(phase.log, f"\n===== parallel-runs: tests ({phase.name}{selected}) in {phase.cwd}: {shown}\n")
    mapping = _mapping_of(phase, spec, environ)
    env = _phase_env(phase, spec, environ, reports=reports, mapping=mapping)
    if phase.checkout is not None:
        append_log(phase.log, f"===== parallel-runs: code under test mapped: {mapping.describe(phase.cwd)}\n")
    ended = run_command(
        argv,
        cwd=phase.cwd,
        env=env,
        log_path=phase.log,
        timeout=spec.timeout,
        grace=grace,
        on_start=on_start,
    )
    results = _results(phase, spec, reports=reports, before=before, ended=ended)
    if phase.checkout is not None:
        results = _checked(phase, results)
    found = (
        f"{len(results.outcomes)} tests" if results.outcomes is not None else f"unavailable: {results.reason}"
    )
    append_log(phase.log, f"===== parallel-runs: tests ({phase.name}) exit code {ended.exit_code}; {found}\n")
    return results
