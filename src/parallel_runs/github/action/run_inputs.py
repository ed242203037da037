"""What the action gives a leg's runs besides the batch options (docs/CONTRACTS.md §8): `env`
(NAME=value lines), `run-secrets` (the names of the caller's secrets the runs get, their values from
the `secrets` input, `toJSON(secrets)`, else the step's environment) and `setup` (a script run once
in the checkout before the leg's batch).

Names are checked here, before anything runs: a bad one is a usage error (exit 2). A name the
action reads itself (PARALLEL_RUNS_*), one withheld from runs (the GitHub token, the runner's files:
core/command.py WITHHELD) or one of git's redirections is refused, so neither input can reconfigure
the action or hand a run the token.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from parallel_runs.core.command import GIT_REDIRECTIONS, is_withheld
from parallel_runs.core.redaction import Redactor
from parallel_runs.errors import ConfigError

__all__ = ["RunInputs", "SetupFailed", "read_run_inputs", "run_setup"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OWN_PREFIX = "PARALLEL_RUNS_"
_SETUP_TAIL = 5  # lines of a failed setup's output its error repeats


@dataclass(frozen=True, slots=True)
class RunInputs:
    """The variables every run of the leg gets from `env` and `run-secrets`, and the setup script."""

    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # name -> value
    setup: str | None = None

    @property
    def secret_values(self) -> frozenset[str]:
        """The values to mask and redact: each secret whole and each of its lines."""
        lines = {line for value in self.secrets.values() for line in value.splitlines() if line.strip()}
        return frozenset({*self.secrets.values(), *lines})

    def variables(self) -> dict[str, str]:
        """What the runs' environment gains: the env values, then the secrets."""
        return self.env | self.secrets


class SetupFailed(Exception):
    """The setup script exited non-zero; the message says how and ends with its output's last lines."""


def _check_name(name: str, where: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"input {where}: {name!r} is not a variable name (letters, digits, _)")
    if name.upper().startswith(_OWN_PREFIX) or is_withheld(name.upper()) or name in GIT_REDIRECTIONS:
        raise ConfigError(
            f"input {where}: {name} is not given to runs this way (the action's own variables, git's, "
            "the GitHub token and the runner's files are refused; see pass-env)"
        )


def parse_env(text: str) -> dict[str, str]:
    """`NAME=value` lines (the value is the rest of the line, `=` and all); blank and `#` lines skipped."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise ConfigError(f"input env, line {number}: {line.strip()!r} is not NAME=value")
        _check_name(name.strip(), f"env, line {number}")
        values[name.strip()] = value
    return values


def _given_secrets(text: str) -> dict[str, str]:
    """The `secrets` input: a JSON object of secret name -> value (GitHub's names are upper-cased)."""
    if not text.strip():
        return {}
    try:
        given = json.loads(text)
    except json.JSONDecodeError:
        given = None
    if not isinstance(given, dict):
        raise ConfigError("input secrets is not a JSON object (give it toJSON(secrets) in an expression)")
    return {str(name).upper(): value for name, value in given.items() if isinstance(value, str)}


def read_secrets(names: str, given_text: str, environ: Mapping[str, str]) -> dict[str, str]:
    """run-secrets' names (commas/whitespace) with their values; a name without a value is an error."""
    given = _given_secrets(given_text)
    found: dict[str, str] = {}
    for name in filter(None, re.split(r"[\s,]+", names)):
        _check_name(name, "run-secrets")
        value = given.get(name.upper()) or environ.get(name)
        if not value:
            raise ConfigError(
                f"input run-secrets: no secret {name} was given (call the reusable workflow with "
                "`secrets: inherit`, or give the action's `secrets` input toJSON(secrets))"
            )
        found[name] = value
    return found


def read_run_inputs(inputs: Mapping[str, str | None], environ: Mapping[str, str]) -> RunInputs:
    """The three inputs, checked (`inputs`: env, run_secrets, secrets, setup as the step got them)."""
    secrets = read_secrets(inputs.get("run_secrets") or "", inputs.get("secrets") or "", environ)
    env = parse_env(inputs.get("env") or "")
    both = sorted(set(env) & set(secrets))
    if both:
        raise ConfigError(f"input env and run-secrets both name {', '.join(both)}")
    setup = inputs.get("setup") or ""
    return RunInputs(env=env, secrets=secrets, setup=setup if setup.strip() else None)


def run_setup(
    script: str, *, cwd: Path, environ: Mapping[str, str], redact: Redactor, say: Callable[[str], None]
) -> None:
    """Run the setup script (bash, as a `run:` step runs it) in `cwd`, each line of its output said
    redacted; SetupFailed when it exits non-zero."""
    tail: list[str] = []
    with subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        for raw in process.stdout or ():
            line = redact(raw.rstrip("\n"))
            say(line)
            tail = [*tail, line][-_SETUP_TAIL:] if line.strip() else tail
    if process.returncode != 0:
        last = " | ".join(tail) or "no output"
        raise SetupFailed(f"setup exited {process.returncode}; no run was started. Its last lines: {last}")
