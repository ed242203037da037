"""A batch's test command: pytest detection, the report flag, `{junit}`, the baseline cache key. Pure."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.junit import TestOutcome

__all__ = [
    "DEFAULT_KEY_ENV",
    "TestResults",
    "TestSpec",
    "baseline_key",
    "is_pytest_command",
    "render_test_argv",
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
_KEY_VERSION = 1
_SHELL_PYTEST = re.compile(
    r"^\s*(?:exec\s+)?(?:\S*/)?(?:py\.test|pytest|python(?:3(?:\.\d+)?)?\s+-m\s+pytest)(?=\s|$)"
)
_PYTHON = re.compile(r"python(?:3(?:\.\d+)?)?")
_JUNIT_FLAGS = ("--junitxml", "--junit-xml")
_HEX = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSpec:
    """How a batch tests its runs: command, per-phase timeout, retries of newly failing tests."""

    __test__ = False  # not a pytest test class

    command: CommandSpec
    timeout: float | None = None  # seconds per test phase (baseline, after, each retry)
    retries: int = 1
    key_env: tuple[str, ...] = DEFAULT_KEY_ENV  # environment variables in the baseline cache key

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"test retries must be 0 or more, got {self.retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"test timeout must be positive, got {self.timeout}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResults:
    """One test phase (baseline, after, retry-N): each test's outcome, or why there is none."""

    __test__ = False  # not a pytest test class

    phase: str
    command: str
    exit_code: int | None
    outcomes: Mapping[str, TestOutcome] | None  # None: tests unavailable (no usable report)
    reason: str | None = None  # why unavailable
    report_format: str | None = None  # "junit" or "pytest-json"

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
            "report_format": self.report_format,
            "counts": self.counts(),
            "tests": outcomes,
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
        return cls(
            phase=fields["phase"],
            command=fields["command"],
            exit_code=exit_code if isinstance(exit_code, int) else None,
            outcomes=None if tests is None else {str(k): TestOutcome(v) for k, v in tests.items()},
            reason=fields["reason"] if isinstance(fields["reason"], str) else None,
            report_format=fields["report_format"] if isinstance(fields["report_format"], str) else None,
        )


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


def _names_junit_flag(pytest_arguments: str) -> bool:
    """Whether pytest's own arguments (up to the first shell separator or comment) name a report flag."""
    own = re.split(r"&&|\|\||[;|\n]|\s#", pytest_arguments, maxsplit=1)[0]
    return any(word.startswith(_JUNIT_FLAGS) for word in own.split())


def render_test_argv(spec: CommandSpec, *, junit: Path) -> list[str]:
    """The argv of a test phase: `{junit}` replaced, `--junitxml` added to a pytest that names none."""
    flag = f"--junitxml={junit}"
    if spec.shell is not None:
        text = spec.shell.replace("{junit}", shlex.quote(str(junit)))
        match = _SHELL_PYTEST.match(text)
        if match and not _names_junit_flag(text[match.end() :]):
            text = f"{text[: match.end()]} {shlex.quote(flag)}{text[match.end() :]}"
        return ["bash", "-c", text]
    argv = [arg.replace("{junit}", str(junit)) for arg in spec.argv]
    prefix = _argv_pytest_prefix(spec.argv)
    if prefix and not any(arg.startswith(_JUNIT_FLAGS) for arg in argv):
        argv.insert(prefix, flag)
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
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{base_sha[:12]}-{digest[:20]}"
