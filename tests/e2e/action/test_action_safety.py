"""What the action must never do: run its inputs as code, or leave the token behind; and what
push-branches does with the run branches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.action_flow import Workflow, table_rows
from tests.action_harness import ACTION
from tests.helpers import git


def test_no_script_of_the_action_expands_an_expression() -> None:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert scripts
    assert all("${{" not in script for script in scripts)


def test_both_python_steps_get_every_input_the_same_way() -> None:
    steps = {step.get("id"): step for step in yaml.safe_load(ACTION.read_text())["runs"]["steps"]}
    prepare, main = steps["prepare"]["env"], steps["main"]["env"]
    assert prepare.keys() == main.keys()
    assert {key: value for key, value in prepare.items() if key != "PARALLEL_RUNS_BATCH_ID"} == {
        key: value for key, value in main.items() if key != "PARALLEL_RUNS_BATCH_ID"
    }
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    passed = {value.removeprefix("${{ inputs.").removesuffix(" }}") for value in prepare.values()}
    assert set(inputs) - passed == {"python-version"}  # the one input only setup-python reads


def test_inputs_are_data_never_code(workflow: Workflow, clone: Callable[[str], Path], tmp_path: Path) -> None:
    pwned = "pwned"  # relative: it would land in whatever directory ran it, all of them under tmp_path
    home_canary = Path(workflow.job(tmp_path, "probe").env["HOME"]) / "canary"
    home_canary.write_text("still here")
    run_ids = [f"$(touch {pwned}-1)", f"`touch {pwned}-2`", '"; rm -rf ~']
    ledger = tmp_path / "ledger"
    inputs = {
        "run-ids-file": str(tmp_path / "ids.txt"),
        "batch-id": f'$(touch {pwned}-3)`touch {pwned}-4`"; rm -rf ~',
        "command": f'printf "%s\\n" "$PARALLEL_RUNS_RUN_ID" >> {ledger}',
    }
    (tmp_path / "ids.txt").write_text("\n".join(run_ids) + "\n")
    evil_tests = {"test-command": f'$(touch {pwned}-5); `touch {pwned}-6`; "; rm -rf ~'}
    workspace = clone("clone")
    plan = workflow.job(workspace, "plan").run(inputs | evil_tests | {"mode": "plan", "max-jobs": "2"})
    assert plan.ok, plan.log
    assert json.loads(plan.outputs["matrix"]) == {"leg": [1, 2]}
    assert plan.outputs["batch-id"] == inputs["batch-id"]
    for leg in workflow.legs([workspace], inputs, plan):
        assert leg.ok, leg.log
    report = workflow.job(tmp_path, "report").run(
        evil_tests | {"mode": "report", "batch-id": inputs["batch-id"], "run-ids": ",".join(run_ids)}
    )
    assert report.ok, report.log

    assert sorted(ledger.read_text().splitlines()) == sorted(run_ids)  # the ids reached the runs intact
    assert len(table_rows(report.summary)) == 3
    assert list(tmp_path.rglob("pwned*")) == []
    assert home_canary.read_text() == "still here"


def test_push_branches_leaves_each_finished_runs_branch_on_origin(
    make_repo: Callable[..., Path], tmp_path: Path, workflow: Workflow
) -> None:
    source = make_repo("source")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(origin))
    workspace = tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", str(origin), str(workspace))
    token = "ghs_pushTokenForTheTests000000000000"
    leg = workflow.job(workspace, "run").run(
        {
            "mode": "run",
            "run-ids": "fix-1,fix-2,broken",
            "command": 'echo "$PARALLEL_RUNS_RUN_ID" > result.txt; test "$PARALLEL_RUNS_RUN_ID" != broken',
            "push-branches": "true",
            "github-token": token,
            "fail-on-unsuccessful": "false",
        }
    )
    assert leg.ok, leg.log
    heads = git(origin, "for-each-ref", "--format=%(refname)", "refs/heads/parallel-runs/").splitlines()
    assert heads == [f"refs/heads/parallel-runs/{slug}" for slug in ("broken", "fix-1", "fix-2")]
    assert git(origin, "show", "parallel-runs/fix-2:result.txt") == "fix-2"
    assert token not in (workspace / ".git" / "config").read_text()
    assert token not in leg.visible_log
