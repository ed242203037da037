"""What the runner tells a step about the workflow run: `GITHUB_*` variables and the event payload."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallel_runs.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "GithubContext"]

DEFAULT_API_URL = "https://api.github.com"
_PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True, slots=True, kw_only=True)
class GithubContext:
    """The workflow run a step belongs to."""

    event_name: str = ""
    event: Mapping[str, Any] = field(default_factory=dict)  # the webhook payload of the event
    repository: str = ""  # owner/name
    api_url: str = DEFAULT_API_URL  # GitHub Enterprise Server has its own
    server_url: str = "https://github.com"
    run_id: str = ""
    run_attempt: str = "1"
    workflow: str = ""
    job: str = ""
    sha: str = ""
    ref_name: str = ""  # GITHUB_REF_NAME: the branch (or tag) the workflow runs on
    output_file: Path | None = None  # GITHUB_OUTPUT
    summary_file: Path | None = None  # GITHUB_STEP_SUMMARY

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> GithubContext:
        """Read the `GITHUB_*` variables (missing ones are empty) and the event payload file."""
        return cls(
            event_name=environ.get("GITHUB_EVENT_NAME", ""),
            event=_read_event(environ.get("GITHUB_EVENT_PATH")),
            repository=environ.get("GITHUB_REPOSITORY", ""),
            api_url=(environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            run_attempt=environ.get("GITHUB_RUN_ATTEMPT", "1"),
            workflow=environ.get("GITHUB_WORKFLOW", ""),
            job=environ.get("GITHUB_JOB", ""),
            sha=environ.get("GITHUB_SHA", ""),
            ref_name=environ.get("GITHUB_REF_NAME", ""),
            output_file=_path(environ.get("GITHUB_OUTPUT")),
            summary_file=_path(environ.get("GITHUB_STEP_SUMMARY")),
        )

    @property
    def pull_request_number(self) -> int | None:
        """The pull request's number on a pull_request event, else None."""
        if self.event_name not in _PULL_REQUEST_EVENTS:
            return None
        number = self.event.get("number") or _get(self.event, "pull_request", "number")
        return int(number) if isinstance(number, int | str) and str(number).isdigit() else None

    @property
    def head_sha(self) -> str:
        """The commit a check run belongs to: the pull request's head (GITHUB_SHA is a merge commit)."""
        head = _get(self.event, "pull_request", "head", "sha")
        return str(head) if isinstance(head, str) and head else self.sha

    @property
    def base_branch(self) -> str:
        """The branch the runs' pull requests go to: a pull request's head branch on a pull_request
        event (the runs build on it), else the branch the workflow runs on; "" when neither is known."""
        head = _get(self.event, "pull_request", "head", "ref")
        return str(head) if isinstance(head, str) and head else self.ref_name

    @property
    def run_url(self) -> str:
        """The workflow run's page (its summary), or "" outside Actions."""
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def comment_marker(self) -> str:
        """The hidden line that finds this workflow's and job's sticky comment again."""
        key = json.dumps([self.workflow, self.job], ensure_ascii=True).replace("--", "-\\u002d")
        return f"<!-- parallel-runs sticky comment {key} -->"


def _path(raw: str | None) -> Path | None:
    return Path(raw) if raw else None


def _get(document: Mapping[str, Any], *keys: str) -> object:
    value: object = document
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _read_event(path: str | None) -> Mapping[str, Any]:
    if not path:
        return {}
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload GITHUB_EVENT_PATH={path}: {exc}") from None
    return document if isinstance(document, dict) else {}
