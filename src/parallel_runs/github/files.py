"""The runner's files: step outputs ($GITHUB_OUTPUT) and the job summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from parallel_runs.errors import ConfigError

__all__ = ["append_summary", "format_outputs", "write_outputs"]


def format_outputs(outputs: Mapping[str, str]) -> str:
    """`name<<DELIMITER`, the value, `DELIMITER` for each output: safe for any value, multi-line too.

    The delimiter is random and checked against the value, so a value cannot end its own block
    and set another output.
    """
    blocks = []
    for name, value in outputs.items():
        if not name or "\n" in name or "<<" in name or "=" in name:
            raise ValueError(f"bad output name {name!r}")
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # pragma: no cover - 128 random bits
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(blocks)


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append `outputs` to the step's output file."""
    _append(path, format_outputs(outputs), what="step outputs")


def append_summary(path: Path, markdown: str) -> None:
    """Append markdown to the job summary (kept under GitHub's 1 MiB by report.SUMMARY_LIMITS)."""
    _append(path, markdown if markdown.endswith("\n") else markdown + "\n", what="job summary")


def _append(path: Path, text: str, *, what: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write the {what} to {path}: {exc.strerror or exc}") from None
