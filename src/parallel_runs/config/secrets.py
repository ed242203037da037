"""The secret values a process knows (to redact from what it prints and writes), and the withheld
variables the user passes to runs by name (--pass-env)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from parallel_runs.config.common import flag_list
from parallel_runs.core.command import DATABASE_URL_ENV
from parallel_runs.core.redaction import token_secrets
from parallel_runs.core.urls import url_passwords
from parallel_runs.errors import ConfigError

__all__ = ["SECRET_ENV", "known_secrets", "read_pass_env"]

# Variables whose whole value is a secret. ACTIONS_* values are secrets too (tokens and per-job
# service URLs), except their switches (ACTIONS_STEP_DEBUG=true).
SECRET_ENV = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "PARALLEL_RUNS_GITHUB_TOKEN",
    "PGPASSWORD",
)
# Variables that may hold a database URL with a password in it.
_URL_ENV = (DATABASE_URL_ENV, "DATABASE_URL")
_SWITCHES = {"true", "false", "yes", "no", "on", "off"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def known_secrets(environ: Mapping[str, str], *, urls: Iterable[str | None] = ()) -> frozenset[str]:
    """Every secret value this process knows: tokens (and their push header), ACTIONS_* values, and
    the passwords of the database URLs (given by flag or in the environment)."""
    tokens = [environ.get(name) or "" for name in SECRET_ENV]
    found = [form for token in tokens for form in token_secrets(token)]
    found += [
        value
        for name, value in environ.items()
        if name.startswith("ACTIONS_") and value.strip().lower() not in _SWITCHES
    ]
    for url in [*urls, *(environ.get(name) for name in _URL_ENV)]:
        found += url_passwords(url or "")
    return frozenset(filter(None, found))


def read_pass_env(flags: Mapping[str, object], environ: Mapping[str, str]) -> frozenset[str]:
    """--pass-env NAME[,NAME] (repeatable), else PARALLEL_RUNS_PASS_ENV: withheld variables runs get."""
    names = {name for text in flag_list(flags, "pass_env", environ) for name in re.split(r"[\s,]+", text)}
    names.discard("")
    for name in sorted(names):
        if not _NAME.fullmatch(name):
            raise ConfigError(f"--pass-env {name!r} is not a variable name (give NAME[,NAME])")
    return frozenset(names)
