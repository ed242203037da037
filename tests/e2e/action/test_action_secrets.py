"""No secret in what leaves, through the action (issue #16 items 11-12): a run cannot write the
step's outputs, and a run that prints every secret leaves none in the job summary, the annotations,
the log, the HTML report, the artifacts, the PR comment or the check run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.action_flow import Workflow, pull_request_event
from tests.fake_github import fake_github

HEAD = "def5678" + "0" * 33
INPUT_TOKEN = "ghs_actionInputTokenOfTheTests00004"  # the github-token input
JOB = {  # what a job's runner puts in every step's environment
    "GITHUB_TOKEN": "ghs_jobLevelTokenOfTheTests00000005",
    "ACTIONS_RUNTIME_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.runtime.0006",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.idtoken.0007",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.example/oidc/idtoken?api-version=2.0&id=0008",
    "ACTIONS_CACHE_URL": "https://artifactcache.example/cache-0009/",
}


def values() -> list[str]:
    return [INPUT_TOKEN, *JOB.values()]


def holding(text: str) -> list[str]:
    return [value for value in values() if value in text]


def test_a_run_cannot_set_the_steps_outputs(repo: Path, tmp_path: Path) -> None:
    workflow = Workflow(tmp_path / "workflow")
    command = 'echo "status=success" >> "$GITHUB_OUTPUT"; echo "pwned=yes" >> "$GITHUB_OUTPUT"; exit 1'
    leg = workflow.job(repo, "run").run(
        {"mode": "run", "run-ids": "a", "command": command, "fail-on-unsuccessful": "false"}
    )
    assert leg.ok, leg.log
    main = leg.step("main").outputs
    assert "pwned" not in main
    assert main["status"] == "failure"
    assert leg.outputs["status"] == "failure"


def test_a_run_that_prints_every_secret_leaves_none_in_what_leaves(repo: Path, tmp_path: Path) -> None:
    with fake_github() as github:
        workflow = Workflow(
            tmp_path / "workflow",
            event_name="pull_request",
            event=pull_request_event(7, HEAD),
            api_url=github.base_url,
            extra_env=dict(JOB),
        )
        # Passed by name, the run has the job's secrets; the input token is never passed.
        printed = " ".join(f'"${name}"' for name in JOB)
        command = f'env; echo "token: $PARALLEL_RUNS_GITHUB_TOKEN"; echo {printed}; exit 1'
        leg = workflow.job(repo, "run").run(
            {
                "mode": "run",
                "run-ids": "a,b",
                "batch-id": "pr-7",
                "command": command,
                "github-token": INPUT_TOKEN,
                "pass-env": ",".join(JOB),
                "fail-on-unsuccessful": "false",
            }
        )
        assert leg.ok, leg.log
        report = workflow.job(tmp_path, "report").run(
            {
                "mode": "report",
                "batch-id": "pr-7",
                "github-token": INPUT_TOKEN,
                "fail-on-unsuccessful": "false",
            }
        )
        assert report.ok, report.log

    comment = next(iter(github.comments.values()))["body"]
    check_run = github.check_runs[0]
    assert "run.log" in leg.visible_log  # the runs' groups and their annotations were written
    assert "::error title=run a::" in leg.visible_log
    assert "***" in comment  # the failing runs' tails are there, redacted
    for name, text in {
        "run leg's log (groups, annotations)": leg.visible_log,
        "run leg's outputs": json.dumps(leg.outputs),
        "report's log (annotations)": report.visible_log,
        "job summary": report.summary,
        "report's outputs": json.dumps(report.outputs),
        "PR comment": comment,
        "check run": json.dumps(check_run),
        "HTML report": Path(report.outputs["report-path"]).read_text(),
    }.items():
        assert holding(text) == [], name
    for path in workflow.artifacts.rglob("*"):
        if path.is_file() and path.name != "run.log":  # run.log: the run's raw output, on the user's side
            assert holding(path.read_bytes().decode("utf-8", "replace")) == [], path
