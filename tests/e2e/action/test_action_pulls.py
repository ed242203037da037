"""Issue #20 items 3 and 4 through the action: tasks in (tasks-file), pull requests out (pull-requests),
and the summary saying where each run's change is. Real git (a bare origin), real runs and pytest, and
the local fake of the GitHub REST API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.action_flow import REPOSITORY, Workflow, pull_request_event
from tests.dashboard_batches import client_at
from tests.fake_github import FakeGithub, fake_github
from tests.helpers import git

TOKEN = "ghs_pullRequestTokenOfTheTests00000000"
CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b  # bug: fails at base\n"
TESTS = (
    "from calc import add, sub\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_sub():\n    assert sub(5, 3) == 2\n"
)
TASKS = [
    {"id": "fixes", "title": "Fix sub | for real", "prompt": "make sub subtract", "issue": 7},
    {"id": "breaks", "title": "Break add", "prompt": "multiply instead"},
    {"id": "noop", "title": "Change nothing", "prompt": "leave it"},
]
# A stand-in agent: does what its task's id says and keeps its prompt (from the task's variables).
AGENT = (
    'case "$PARALLEL_RUNS_TASK_ID" in '
    "breaks) sed -i 's/return a + b$/return a * b/' calc.py ;; "
    "fixes) sed -i 's/return a + b  # bug: fails at base/return a - b/' calc.py ;; "
    "esac; "
    '[ "$PARALLEL_RUNS_TASK_ID" = noop ] || { printf %s "$PARALLEL_RUNS_TASK_PROMPT" > prompt.txt; '
    'cp "$PARALLEL_RUNS_TASK" task-copy.json; }'
)
TEST_COMMAND = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


@pytest.fixture
def github() -> Iterator[FakeGithub]:
    with fake_github() as server:
        yield server


@pytest.fixture
def origin(make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    """A bare origin of a project whose tests fail at the base (test_sub), with a tasks file."""
    tasks = "".join(json.dumps(task) + "\n" for task in TASKS)
    source = make_repo(
        "source",
        files={"calc.py": CALC, "tests/test_calc.py": TESTS, "conftest.py": "", "tasks.jsonl": tasks},
    )
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    return bare


def checkout(origin: Path, where: Path) -> Path:
    git(where.parent, "clone", "--quiet", str(origin), str(where))
    return where


def workflow_of(tmp_path: Path, github: FakeGithub, name: str, attempt: str = "1") -> Workflow:
    env = {"GITHUB_REF_NAME": "main", "GITHUB_RUN_ATTEMPT": attempt}
    return Workflow(tmp_path / name, run_id="4242", api_url=github.base_url, extra_env=env)


def leg_inputs(**more: str) -> dict[str, str]:
    return {
        "mode": "run",
        "tasks-file": "tasks.jsonl",
        "command": AGENT,
        "test-command": TEST_COMMAND,
        "pull-requests": "draft",
        "github-token": TOKEN,
        "fail-on-unsuccessful": "false",
    } | more


def assert_pull_requests_shown(place: Path | str, batch_id: str) -> None:
    """The dashboard over `place` shows the fake server's pull request #1 for run `fixes`, none for
    the others (issue #21)."""
    url = "https://github.example/" + REPOSITORY + "/pull/1"
    with client_at(place) as client:
        runs = client.get(f"/api/batches/{batch_id}/runs").json()["runs"]
        table = client.get(f"/batches/{batch_id}").text
        page = client.get(f"/batches/{batch_id}/runs/fixes").text
    assert {run["run_id"]: run["pull_request"] for run in runs} == {
        "fixes": {"number": 1, "url": url},
        "breaks": None,
        "noop": None,
    }
    assert f'<td class="pull"><a class="pull" href="{url}" rel="noopener noreferrer">#1</a></td>' in table
    assert f'<dt>pull request</dt><dd class="pull"><a class="pull" href="{url}"' in page


def test_one_draft_pull_request_per_succeeded_run_none_for_a_regressed_one_updated_on_a_rerun(
    origin: Path, tmp_path: Path, github: FakeGithub
) -> None:
    first = workflow_of(tmp_path, github, "attempt-1")
    leg = first.job(checkout(origin, tmp_path / "runner-1"), "run").run(leg_inputs())
    assert leg.ok, leg.log
    assert [(p["head"], p["base"], p["title"], p["draft"], p["labels"]) for p in github.pulls.values()] == [
        ("parallel-runs/fixes", "main", "Fix sub | for real", True, ["parallel-runs"])
    ]
    body = github.pulls[1]["body"]
    for said in (
        "**succeeded**",
        "- Files changed: 3",
        "newly passing (1):",
        "`tests/test_calc.py::test_sub`",
        f"https://github.com/{REPOSITORY}/actions/runs/4242",
        "`fixes/run.log` in its artifact `parallel-runs-gh-4242-1-leg-1`",
    ):
        assert said in body, body
    heads = git(origin, "for-each-ref", "--format=%(refname:short)", "refs/heads/parallel-runs/").split()
    assert heads == ["parallel-runs/fixes"]  # the regressed run's branch stays off origin
    assert git(origin, "show", "parallel-runs/fixes:prompt.txt") == "make sub subtract"
    task = json.loads(git(origin, "show", "parallel-runs/fixes:task-copy.json"))
    assert task == TASKS[0]
    assert "run noop: succeeded without a change: no pull request" in leg.log
    assert TOKEN not in leg.visible_log
    # Each one opened is recorded in the store: the dashboard's API, runs table and run page show it.
    assert_pull_requests_shown(tmp_path / "runner-1" / ".autonomous_runs", "gh-4242-1")

    report = first.job(tmp_path, "report").run(
        {"mode": "report", "batch-id": "gh-4242-1", "github-token": TOKEN, "pull-requests": "draft"}
    )
    assert report.step("main").returncode == 1, report.log  # a regressed run fails the report
    assert (
        f"- `fixes` Fix sub \\| for real: [#1](https://github.example/{REPOSITORY}/pull/1)" in report.summary
    )
    assert "- `breaks` Break add: no pull request (regressed)" in report.summary
    assert "| `fixes` | Fix sub \\| for real | \u2705 succeeded |" in report.summary

    # The workflow run again (a new attempt, a fresh runner): the same pull request, updated.
    again = workflow_of(tmp_path, github, "attempt-2", attempt="2")
    rerun = again.job(checkout(origin, tmp_path / "runner-2"), "run").run(leg_inputs())
    assert rerun.ok, rerun.log
    assert len(github.pulls) == 1
    assert "`gh-4242-2`" in github.pulls[1]["body"]
    creates = [w for w in github.writes() if w == ("POST", f"/api/v3/repos/{REPOSITORY}/pulls")]
    assert len(creates) == 1
    assert ("PATCH", f"/api/v3/repos/{REPOSITORY}/pulls/1") in github.writes()
    assert "run fixes: pull request #1 updated" in rerun.log


def test_a_token_without_the_permission_is_a_warning_not_a_crash(
    origin: Path, tmp_path: Path, github: FakeGithub
) -> None:
    github.forbid.add("pulls")
    workflow = workflow_of(tmp_path, github, "forbidden")
    leg = workflow.job(checkout(origin, tmp_path / "runner"), "run").run(
        leg_inputs(**{"fail-on-unsuccessful": "false"})
    )
    assert leg.ok, leg.log
    assert "::warning title=pull-requests::run fixes: GitHub API: could not open a pull request" in leg.log
    assert "403" in leg.log
    assert "Traceback" not in leg.log
    assert github.pulls == {}


def test_pull_requests_without_a_token_is_a_usage_error(
    origin: Path, tmp_path: Path, github: FakeGithub
) -> None:
    workflow = workflow_of(tmp_path, github, "no-token")
    leg = workflow.job(checkout(origin, tmp_path / "runner"), "run").run(leg_inputs(**{"github-token": ""}))
    assert leg.step("prepare").returncode == 2  # before any run starts
    assert leg.step("main").outcome == "skipped"
    assert "input pull-requests draft: give github-token" in leg.log
    assert "Traceback" not in leg.log


def test_without_pull_requests_the_summary_names_each_runs_artifact_and_patch_that_applies(
    origin: Path, tmp_path: Path, github: FakeGithub
) -> None:
    workflow = workflow_of(tmp_path, github, "patches")
    workspace = checkout(origin, tmp_path / "runner")
    inputs = {"tasks-file": "tasks.jsonl", "command": AGENT, "fail-on-unsuccessful": "false"}
    plan = workflow.job(workspace, "plan").run(inputs | {"mode": "plan", "max-jobs": "2"})
    assert plan.ok, plan.log
    assert plan.outputs["run-count"] == "3"
    legs = workflow.legs([workspace], inputs, plan)
    assert all(leg.ok for leg in legs), [leg.log for leg in legs]
    report = workflow.job(tmp_path, "report").run({"mode": "report", "batch-id": plan.outputs["batch-id"]})
    assert report.ok, report.log
    summary = report.summary
    assert "#### Where the changes are" in summary
    batch = plan.outputs["batch-id"]
    # Leg K runs every 2nd task from the K-th: fixes and noop on leg 1, breaks on leg 2.
    for run, title, leg in (("fixes", "Fix sub \\| for real", 1), ("breaks", "Break add", 2)):
        artifact = f"parallel-runs-{batch}-leg-{leg}"
        command = (
            f"gh run download 4242 -n {artifact} -D {artifact} && git apply {artifact}/{run}/changes.patch"
        )
        assert f"- `{run}` {title}: `{run}/changes.patch` in artifact `{artifact}`: `{command}`" in summary
    # What the summary points at is there, and applies to a fresh checkout.
    fresh = checkout(origin, tmp_path / "laptop")
    patch = workflow.artifacts / f"parallel-runs-{batch}-leg-1" / "fixes" / "changes.patch"
    subprocess.run(["git", "apply", str(patch)], cwd=fresh, check=True)
    assert (fresh / "prompt.txt").read_text() == "make sub subtract"


def test_on_a_pull_request_the_runs_pull_requests_target_its_branch_and_the_comment_links_them(
    origin: Path, tmp_path: Path, github: FakeGithub
) -> None:
    workflow = Workflow(
        tmp_path / "pr",
        run_id="77",
        event_name="pull_request",
        event=pull_request_event(42, "abc1234" + "0" * 33),
        api_url=github.base_url,
        extra_env={"GITHUB_REF_NAME": "42/merge"},
    )
    leg = workflow.job(checkout(origin, tmp_path / "runner"), "run").run(leg_inputs(**{"batch-id": "pr-42"}))
    assert leg.ok, leg.log
    assert [(p["head"], p["base"]) for p in github.pulls.values()] == [("parallel-runs/fixes", "topic")]
    report = workflow.job(tmp_path, "report").run(
        {"mode": "report", "batch-id": "pr-42", "github-token": TOKEN, "pull-requests": "draft"}
    )
    [comment] = github.comments.values()
    link = f"- `fixes` Fix sub \\| for real: [#1](https://github.example/{REPOSITORY}/pull/1)"
    assert link in comment["body"]
    assert link in report.summary
