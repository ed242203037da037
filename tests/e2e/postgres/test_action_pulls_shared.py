"""The action's pull requests on the shared store (issue #21): a leg working a planned batch opens a
pull request for its succeeded run and records it in PostgreSQL, where the dashboard reads it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.action.test_action_pulls import (
    assert_pull_requests_shown,
    checkout,
    github,
    leg_inputs,
    origin,
    workflow_of,
)
from tests.fake_github import FakeGithub

__all__ = ["github", "origin"]  # the fixtures this module uses


def test_a_legs_pull_request_is_recorded_in_the_shared_store_and_shown(
    origin: Path, tmp_path: Path, github: FakeGithub, database_url: str
) -> None:
    workflow = workflow_of(tmp_path, github, "shared")
    workspace = checkout(origin, tmp_path / "runner")
    inputs = leg_inputs(**{"database-url": database_url, "batch-id": f"pulls-{tmp_path.name[-8:]}"})
    del inputs["mode"]
    plan = workflow.job(workspace, "plan").run(inputs | {"mode": "plan", "max-jobs": "1"})
    assert plan.ok, plan.log
    [leg] = workflow.legs([workspace], inputs, plan)
    assert leg.ok, leg.log
    assert "run fixes: pull request #1 created" in leg.log
    assert_pull_requests_shown(database_url, plan.outputs["batch-id"])
