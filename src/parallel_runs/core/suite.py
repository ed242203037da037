"""A batch's test command: where its reports come from, `{junit}`, the baseline cache key. Pure.

pytest is told to write its JUnit report through the environment (PYTEST_ADDOPTS), so every
wrapper that runs it writes one: `PYTHONPATH=src pytest`, `make test`, a shell script, tox, nox.
Other runners write JUnit XML to $PARALLEL_RUNS_JUNIT, or where they like (`--test-report GLOB`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.junit import Failure, TestOutcome

__all__ = [
    "DEFAULT_KEY_ENV",
    "UNUSABLE_REPORT",
    "TestResults",
    "TestSpec",
    "baseline_key",
    "is_pytest_command",
    "named_reports",
    "pytest_addopts",
    "render_test_argv",
    "runs_unittest",
]

# The variables that can change which tests pass at the same commit with the same command: which
# interpreter/toolchain runs (PATH, virtualenvs, JAVA_HOME), how (PYTEST_ADDOPTS, NODE_OPTIONS,
# GOFLAGS, hash seed, warnings filters) and locale/time zone. Run-specific variables
# (PARALLEL_RUNS_RUN_ID, ...) are left out on purpose: they differ per run, the baseline does not.
DEFAULT_KEY_ENV = (
    *("PATH", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONUTF8", "VIRTUAL_ENV"),
    *("CONDA_PREFIX", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "NODE_ENV", "NODE_OPTIONS", "GOFLAGS"),
    *("JAVA_HOME", "LANG", "LC_ALL", "TZ", "CI"),
)
# 2: reports through PYTEST_ADDOPTS, --test-report globs, failure details; 3: the code under test is
# imported from the baseline's worktree (an earlier baseline may have tested the source checkout's)
_KEY_VERSION = 3
_SHELL_PYTEST = re.compile(
    r"^\s*(?:exec\s+)?(?:\S*/)?(?:py\.test|pytest|python(?:3(?:\.\d+)?)?\s+-m\s+pytest)(?=\s|$)"
)
_PYTHON = re.compile(r"python(?:3(?:\.\d+)?)?")
# `python -m unittest` anywhere in a shell command (after `cd x &&`, in a wrapper's line).
_SHELL_UNITTEST = re.compile(r"(?<![\w.-])((?:\S*/)?python(?:3(?:\.\d+)?)?\s+)-m\s+unittest(?=[\s;&|)]|$)")
UNITTEST_MODULE = "parallel_runs_unittest"  # gate/unittest_report.py, copied beside a phase's reports
# A report path the command names itself (`pytest --junitxml=report.xml`): it wins over ours.
_NAMED_JUNIT = re.compile(r"--junit-?xml(?:=|\s+)(?P<quote>['\"]?)(?P<path>[^\s'\";&|()<>]+)(?P=quote)")
_HEX = re.compile(r"[0-9a-f]{7,64}")


def _glob_problem(glob: str) -> str | None:
    """Why a --test-report glob is refused: it must stay inside the worktree it is read from."""
    path = PurePosixPath(glob)
    if not glob.strip():
        return "it is empty"
    if path.is_absolute() or glob.startswith("~"):
        return "it must be relative to the worktree (concurrent runs would share an absolute path)"
    if ".." in path.parts:
        return "it must not leave the worktree (`..`)"
    return None


# How TestResults.reason begins when the test command left a report that could not be read.
UNUSABLE_REPORT = "unusable report"


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSpec:
    """How a batch tests its runs: command, per-phase timeout, retries of newly failing tests."""

    __test__ = False  # not a pytest test class

    command: CommandSpec
    timeout: float | None = None  # seconds per test phase (baseline, after, each retry)
    retries: int = 1
    key_env: tuple[str, ...] = DEFAULT_KEY_ENV  # environment variables in the baseline cache key
    reports: tuple[str, ...] = ()  # globs of JUnit files the command writes itself (--test-report)
    allow_empty_baseline: bool = False  # a baseline without tests or passes does not stop the batch
    setup: CommandSpec | None = None  # --setup-command: run in the baseline's worktree first, as in a run's
    copy_ignored: tuple[str, ...] = ()  # --copy-ignored: copied into the baseline's worktree too

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"test retries must be 0 or more, got {self.retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"test timeout must be positive, got {self.timeout}")
        for glob in self.reports:
            if problem := _glob_problem(glob):
                raise ValueError(f"test report {glob!r}: {problem}")

    @property
    def signature(self) -> str:
        """What judges a run, as a short digest: a run that succeeded under another one is judged again."""
        parts = {
            "command": self.command.describe(),
            "setup": self.setup.describe() if self.setup else None,
            "copy_ignored": list(self.copy_ignored),
            "reports": list(self.reports),
            "retries": self.retries,
            "timeout": self.timeout,
            "allow_empty_baseline": self.allow_empty_baseline,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def report_globs(self) -> tuple[str, ...]:
        """Where the command's own JUnit files are: --test-report globs, and paths its pytest names."""
        return tuple(dict.fromkeys((*self.reports, *named_reports(self.command))))


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResults:
    """One test phase (baseline, after, retry-N): each test's outcome, or why there is none."""

    __test__ = False  # not a pytest test class

    phase: str
    command: str
    exit_code: int | None
    outcomes: Mapping[str, TestOutcome] | None  # None: tests unavailable (no usable report)
    reason: str | None = None  # why unavailable
    report_format: str | None = None  # "junit", "pytest-json", or both ("junit+pytest-json")
    failures: Mapping[str, Failure] = field(default_factory=dict)  # failing ids: runner's name, message
    timed_out: bool = False  # the phase was stopped at --test-timeout
    imported_elsewhere: str | None = None  # code under test the phase imported from outside its worktree

    @property
    def is_available(self) -> bool:
        """Whether a report was read: a missing or unparsable one is never "no failures"."""
        return self.outcomes is not None

    def counts(self) -> dict[str, int]:
        """Number of tests per outcome, plus the total."""
        values = list((self.outcomes or {}).values())
        return {"total": len(values)} | {outcome.value: values.count(outcome) for outcome in TestOutcome}

    def to_json(self) -> dict[str, object]:
        """The baseline.json / after.json document."""
        outcomes = None if self.outcomes is None else {k: v.value for k, v in sorted(self.outcomes.items())}
        return {
            "phase": self.phase,
            "command": self.command,
            "available": self.is_available,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "imported_elsewhere": self.imported_elsewhere,
            "report_format": self.report_format,
            "counts": self.counts(),
            "tests": outcomes,
            "failures": {
                key: {"name": failure.name, "message": failure.message}
                for key, failure in sorted(self.failures.items())
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> TestResults:
        """Read back what to_json wrote; TypeError or ValueError when the document is not one."""
        tests, exit_code = document.get("tests"), document.get("exit_code")
        fields = {key: document.get(key) for key in ("phase", "command", "reason", "report_format")}
        if not isinstance(fields["phase"], str) or not isinstance(fields["command"], str):
            raise TypeError("not a test results document")
        if tests is not None and not isinstance(tests, dict):
            raise TypeError("not a test results document: 'tests' is not an object")
        failures = document.get("failures")
        return cls(
            phase=fields["phase"],
            command=fields["command"],
            exit_code=exit_code if isinstance(exit_code, int) else None,
            outcomes=None if tests is None else {str(k): TestOutcome(v) for k, v in tests.items()},
            reason=fields["reason"] if isinstance(fields["reason"], str) else None,
            report_format=fields["report_format"] if isinstance(fields["report_format"], str) else None,
            failures={
                str(key): Failure(str(value.get("name", key)), str(value.get("message", "")))
                for key, value in (failures.items() if isinstance(failures, dict) else ())
                if isinstance(value, dict)
            },
            timed_out=document.get("timed_out") is True,
            imported_elsewhere=_text_or_none(document.get("imported_elsewhere")),
        )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _argv_pytest_prefix(argv: tuple[str, ...]) -> int:
    """How many leading argv words start pytest (1 or 3), 0 when it is not pytest."""
    first = os.path.basename(argv[0]) if argv else ""
    if first in ("pytest", "py.test"):
        return 1
    return 3 if _PYTHON.fullmatch(first) and argv[1:3] == ("-m", "pytest") else 0


def is_pytest_command(spec: CommandSpec) -> bool:
    """True when the command starts with `pytest` or `python[3] -m pytest`."""
    if spec.shell is not None:
        return _SHELL_PYTEST.match(spec.shell) is not None
    return _argv_pytest_prefix(spec.argv) > 0


def named_reports(spec: CommandSpec) -> tuple[str, ...]:
    """Relative report paths the command gives pytest itself (`--junitxml=report.xml`)."""
    paths = (match["path"] for match in _NAMED_JUNIT.finditer(spec.describe()))
    return tuple(path for path in paths if "{" not in path and "$" not in path and not _glob_problem(path))


def pytest_addopts(existing: str | None, *, junit: Path) -> str:
    """PYTEST_ADDOPTS that make any pytest the command starts write its JUnit report to `junit`.

    xunit1 names each test's file, so failures are shown as node ids pytest accepts. A report
    path the command line names wins over this one (pytest keeps the last `--junitxml`).
    """
    ours = f"-o junit_family=xunit1 --junitxml={shlex.quote(str(junit))}"
    return f"{existing} {ours}" if existing and existing.strip() else ours


def runs_unittest(spec: CommandSpec) -> bool:
    """True when the command runs `python -m unittest` (then a phase runs it through our reporter)."""
    if spec.shell is not None:
        return _SHELL_UNITTEST.search(spec.shell) is not None
    first = os.path.basename(spec.argv[0]) if spec.argv else ""
    return _PYTHON.fullmatch(first) is not None and spec.argv[1:3] == ("-m", "unittest")


def render_test_argv(spec: CommandSpec, *, junit: Path, unittest_reporter: Path | None = None) -> list[str]:
    """The argv of a test phase, with `{junit}` replaced (shell-quoted in a shell string).

    With a reporter, `python -m unittest` becomes `python REPORTER`: the same run, plus a report. It is
    run by its path, not as a module, so a command that sets PYTHONPATH itself still finds it.
    """
    if spec.shell is not None:
        shell = spec.shell
        if unittest_reporter is not None:
            reporter = shlex.quote(str(unittest_reporter))
            shell = _SHELL_UNITTEST.sub(lambda match: match.group(1) + reporter, shell)
        return ["bash", "-c", shell.replace("{junit}", shlex.quote(str(junit)))]
    argv = [arg.replace("{junit}", str(junit)) for arg in spec.argv]
    if unittest_reporter is not None and runs_unittest(spec):
        return [argv[0], str(unittest_reporter), *argv[3:]]
    return argv


def baseline_key(*, base_sha: str, spec: TestSpec, environ: Mapping[str, str]) -> str:
    """The cache key of a baseline: base commit, test command, relevant environment."""
    if not _HEX.fullmatch(base_sha):
        raise ValueError(f"base sha must be a hex commit id, got {base_sha!r}")
    command: object = spec.command.shell if spec.command.shell is not None else list(spec.command.argv)
    payload = {
        "version": _KEY_VERSION,
        "base_sha": base_sha,
        "command": command,
        "env": {name: environ[name] for name in sorted(set(spec.key_env)) if name in environ},
        "reports": list(spec.reports),
        "setup": spec.setup.shell if spec.setup else None,
        "copy_ignored": list(spec.copy_ignored),
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{base_sha[:12]}-{digest[:20]}"
