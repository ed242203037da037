"""The workflow run as a step sees it: GITHUB_* variables and the event payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_runs.errors import ConfigError
from parallel_runs.github import GithubContext
from tests.action_flow import pull_request_event


def context(tmp_path: Path, event_name: str, event: object, **env: str) -> GithubContext:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return GithubContext.from_environ(
        {"GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(path), **env}
    )


def test_a_pull_request_event_names_the_pull_request_and_its_head(tmp_path: Path) -> None:
    found = context(
        tmp_path,
        "pull_request",
        pull_request_event(7, "b" * 40),
        GITHUB_SHA="c" * 40,
        GITHUB_REPOSITORY="o/r",
        GITHUB_RUN_ID="99",
        GITHUB_API_URL="https://ghe.example/api/v3/",
    )
    assert found.pull_request_number == 7
    assert found.head_sha == "b" * 40  # not GITHUB_SHA, the merge commit
    assert found.api_url == "https://ghe.example/api/v3"
    assert found.run_url == "https://github.com/o/r/actions/runs/99"


def test_other_events_have_no_pull_request(tmp_path: Path) -> None:
    found = context(tmp_path, "push", {"after": "d" * 40}, GITHUB_SHA="e" * 40)
    assert found.pull_request_number is None
    assert found.head_sha == "e" * 40
    assert GithubContext.from_environ({}).api_url == "https://api.github.com"
    assert GithubContext.from_environ({}).run_url == ""


def test_the_sticky_marker_differs_per_workflow_and_job_and_stays_a_comment() -> None:
    markers = {
        GithubContext(workflow=workflow, job=job).comment_marker
        for workflow, job in [("ci", "report"), ("ci", "report-2"), ("nightly", "report"), ("a-->b", "x")]
    }
    assert len(markers) == 4
    for marker in markers:
        assert marker.startswith("<!-- ")
        assert marker.endswith(" -->")
        assert "--" not in marker[4:-3]


def test_an_unreadable_event_payload_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GITHUB_EVENT_PATH"):
        GithubContext.from_environ({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")})
