"""The report mode on a pull request: one sticky comment (created, then edited in place), a check
run, the outputs, and the step's exit code, against a local fake of the GitHub REST API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action_flow import REPOSITORY, Workflow, pull_request_event
from tests.action_harness import ActionResult
from tests.fake_github import FakeGithub, fake_github

TOKEN = "ghs_fakeTokenForTheTests0123456789"
HEAD = "abc1234" + "0" * 33


@pytest.fixture
def github() -> FakeGithub:
    with fake_github() as server:
        yield server


def pr_workflow(tmp_path: Path, api_url: str) -> Workflow:
    return Workflow(
        tmp_path / "workflow", event_name="pull_request", event=pull_request_event(42, HEAD), api_url=api_url
    )


def run_batch(workflow: Workflow, repo: Path, command: str) -> None:
    leg = workflow.job(repo, "run").run(
        {"mode": "run", "run-ids": "a,b", "batch-id": "pr-42", "command": command}
    )
    assert leg.outputs["run-count"] == "2", leg.log


def report(workflow: Workflow, workspace: Path, **inputs: str) -> ActionResult:
    return workflow.job(workspace, "report").run(
        {"mode": "report", "batch-id": "pr-42", "github-token": TOKEN} | inputs
    )


def test_the_first_report_comments_and_a_second_edits_the_same_comment(
    repo: Path, tmp_path: Path, github: FakeGithub
) -> None:
    workflow = pr_workflow(tmp_path, github.base_url)
    run_batch(workflow, repo, "true")
    first = report(workflow, tmp_path)
    assert first.ok, first.log
    second = report(workflow, tmp_path)
    assert second.ok, second.log

    comments = f"/api/v3/repos/{REPOSITORY}/issues/42/comments"
    assert [w for w in github.writes() if "check-runs" not in w[1]] == [
        ("POST", comments),
        ("PATCH", f"/api/v3/repos/{REPOSITORY}/issues/comments/{next(iter(github.comments))}"),
    ]
    assert len(github.comments) == 1
    body = next(iter(github.comments.values()))["body"]
    assert body.startswith("<!-- parallel-runs sticky comment")
    assert "| `a` | \u2705 succeeded |" in body
    assert all(r.authorization == f"token {TOKEN}" for r in github.requests)
    assert [(run["name"], run["head_sha"], run["conclusion"]) for run in github.check_runs] == [
        ("parallel-runs", HEAD, "success")
    ] * 2
    for result in (first, second):
        assert TOKEN not in result.visible_log
        assert TOKEN in result.masks


def test_a_failed_run_fails_the_report_step_unless_told_otherwise(
    repo: Path, tmp_path: Path, github: FakeGithub
) -> None:
    workflow = pr_workflow(tmp_path, github.base_url)
    run_batch(workflow, repo, 'test "$PARALLEL_RUNS_RUN_ID" = a')
    failing = report(workflow, tmp_path)
    assert failing.step("main").outcome == "failure"
    assert failing.outputs["status"] == "failure"
    assert failing.outputs["failed"] == "1"
    assert "::error title=parallel-runs::batch pr-42: 2 run(s): 1 succeeded, 1 did not" in failing.log
    assert github.check_runs[-1]["conclusion"] == "failure"
    assert failing.step("upload-report").outcome == "success"  # the HTML report is uploaded all the same

    tolerant = report(workflow, tmp_path, **{"fail-on-unsuccessful": "false"})
    assert tolerant.ok, tolerant.log
    assert tolerant.outputs["status"] == "failure"


def test_a_token_without_checks_write_warns_and_the_comment_still_lands(
    repo: Path, tmp_path: Path, github: FakeGithub
) -> None:
    github.forbid.add("check-runs")
    workflow = pr_workflow(tmp_path, github.base_url)
    run_batch(workflow, repo, "true")
    done = report(workflow, tmp_path)
    assert done.ok, done.log
    assert len(github.comments) == 1
    assert "::warning title=parallel-runs report::GitHub API: could not create the check run: 403" in done.log


def test_without_a_pull_request_there_is_no_comment(repo: Path, tmp_path: Path, github: FakeGithub) -> None:
    workflow = Workflow(tmp_path / "workflow", api_url=github.base_url)
    run_batch(workflow, repo, "true")
    done = report(workflow, tmp_path, **{"check-name": ""})
    assert done.ok, done.log
    assert github.requests == []
