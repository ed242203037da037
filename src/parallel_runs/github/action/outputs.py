"""What a step of the action says: log lines, the secrets' masks, and its outputs."""

from __future__ import annotations

import sys

from parallel_runs.core.redaction import token_secrets
from parallel_runs.core.urls import url_passwords
from parallel_runs.github.action.settings import ActionSettings
from parallel_runs.github.commands import add_mask, end_group, group
from parallel_runs.github.files import write_outputs

__all__ = ["mask_secrets", "say", "set_outputs"]


def say(text: str) -> None:
    """One line of the step's log, flushed at once (the runner interleaves it with the runs' output)."""
    if text:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def mask_secrets(settings: ActionSettings) -> None:
    """`::add-mask::` every secret before anything else is printed."""
    url = settings.database_url or ""
    run_secrets = sorted(settings.run_inputs.secret_values)
    for secret in (*url_passwords(url), url, *token_secrets(settings.token or ""), *run_secrets):
        say(add_mask(secret))


def set_outputs(settings: ActionSettings, outputs: dict[str, str]) -> None:
    """The step's outputs: to $GITHUB_OUTPUT in Actions (and shown in a collapsed group), else printed
    as NAME=VALUE lines."""
    output_file = settings.context.output_file
    if output_file is not None:
        write_outputs(output_file, outputs)
        say(group("step outputs"))
    for name, value in outputs.items():
        say(f"{name}={value}")
    if output_file is not None:
        say(end_group())
