"""examples/workflows/agent-batch.yml end to end (issue #20 item 5): the example's call of the reusable
workflow runs as written, through the workflow's plan → legs → report, in the step harness. Its
`setup` installs a stand-in agent CLI (a fake `npm` that installs `claude`, a script) and the
project's dependencies; the agent's key comes through `run-secrets` from `secrets: inherit`; the
test gate judges each run; the key appears nowhere in what the harness captures.

The tasks file and pull requests (issue #20 items 3 and 4) come with the inputs `tasks-file` and
`pull-requests`. Where the reusable workflow does not have them yet, the call gives the tasks' ids
as `run-ids` instead and opens no pull request, and the test checks the rest.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.action_flow import Workflow, table_rows
from tests.action_harness import ROOT
from tests.fake_github import FakeGithub, fake_github
from tests.helpers import clone
from tests.reusable_workflow import Called, call, declared_inputs

EXAMPLE = ROOT / "examples" / "workflows" / "agent-batch.yml"
KEY = "sk-ant-" + secrets.token_hex(16)
OTHER = "sk-other-" + secrets.token_hex(16)
TASKS = [
    {"id": "fix-a", "title": "Fix a", "prompt": "write notes for a"},
    {"id": "fix-b", "title": "Fix b", "prompt": "write notes for b", "issue": 12},
    {"id": "break-c", "title": "Break c", "prompt": "this one breaks the suite"},
]
# The agent's CLI as `npm install --global @anthropic-ai/claude-code` puts it on PATH here: it needs
# the key, writes the prompt to a notes file, and for a `break-` task breaks the project's test.
CLAUDE = """#!/usr/bin/env bash
set -euo pipefail
[ "$1" = "-p" ] && [ -n "$ANTHROPIC_API_KEY" ]
printf '%s' "$ANTHROPIC_API_KEY" > "{ledger}/$PARALLEL_RUNS_RUN_ID.key"
mkdir -p notes && printf '%s\\n' "$2" > "notes/$PARALLEL_RUNS_RUN_ID.md"
case "$PARALLEL_RUNS_RUN_ID" in break-*) echo 'def test_ok(): assert False' > tests/test_ok.py ;; esac
"""
NPM = """#!/usr/bin/env bash
set -euo pipefail
[ "$*" = "install --global @anthropic-ai/claude-code" ]
cat > "{bin}/claude" <<'EOF'
{claude}EOF
chmod +x "{bin}/claude"
echo "installed $PWD" >> "{ledger}/installs"
"""


def the_call() -> dict[str, object]:
    """The example's `with:` of its one job, with the dispatch's default inputs."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    defaults = {name: i.get("default", "") for name, i in spec[True]["workflow_dispatch"]["inputs"].items()}
    [job] = spec["jobs"].values()
    assert job["secrets"] == "inherit"
    with_ = {}
    for name, value in job["with"].items():
        text = str(value)
        for input_name, default in defaults.items():
            text = text.replace("${{ inputs.%s }}" % input_name, str(default))  # noqa: UP031
        with_[name] = value if isinstance(value, bool | int) else text
    return with_


def project(make_repo: Callable[..., Path], tasks_file: str) -> Path:
    return make_repo(
        files={
            tasks_file: "".join(json.dumps(task) + "\n" for task in TASKS),
            "requirements.txt": "pytest\n",
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
        }
    )


def tools(tmp_path: Path, ledger: Path) -> Path:
    """A bin dir with the fake npm (what the runner's image has), empty of claude until setup runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(NPM.format(bin=bin_dir, ledger=ledger, claude=CLAUDE.format(ledger=ledger)))
    npm.chmod(0o755)
    return bin_dir


def status_of(summary: str, run_id: str) -> str:
    """The run's row of the runs table (its status is one of its cells, whatever columns precede it)."""
    return next(line for line in summary.splitlines() if line.startswith(f"| `{run_id}`"))


def everything_captured(called: Called, roots: list[Path], github: object) -> dict[str, str]:
    texts = {}
    for number, result in enumerate(called.results):
        texts[f"job {number}"] = result.visible_log + json.dumps(result.outputs) + result.summary
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and ".git" not in path.parts and not path.name.startswith("_step_"):
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    texts["GitHub API"] = json.dumps([vars(r) for r in getattr(github, "requests", [])], default=str)
    return texts


def test_the_agent_batch_example_runs_end_to_end(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    with_ = the_call()
    tasks_file = str(with_["tasks-file"])
    repo = project(make_repo, tasks_file)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    bin_dir = tools(tmp_path, ledger)
    declared = declared_inputs()
    if "tasks-file" not in declared:  # items 3 and 4 not merged yet: the ids instead of the tasks
        with_ = {k: v for k, v in with_.items() if k not in ("tasks-file", "pull-requests")}
        with_["run-ids"] = ",".join(task["id"] for task in TASKS)
    # The runner's image: npm, and python with pip (the tests' interpreter has pytest).
    path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    checkouts: list[Path] = []

    def checkout(job: str) -> Path:
        checkouts.append(clone(repo, f"checkout-{len(checkouts)}-{job}"))
        return checkouts[-1]

    def dispatch(github: FakeGithub, attempt: int) -> Called:
        """One run of the example, dispatched on main (`attempt`: a re-run of the same workflow run)."""
        workflow = Workflow(
            tmp_path / f"workflow-{attempt}",
            run_id="4242",
            run_attempt=str(attempt),
            api_url=github.base_url,
            extra_env={"PATH": path, "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main"},
        )
        return call(workflow, with_, {"ANTHROPIC_API_KEY": KEY, "OTHER_SECRET": OTHER}, checkout)

    with fake_github() as github:
        called = dispatch(github, 1)
        rerun = dispatch(github, 2) if "pull-requests" in declared else None

    assert called.plan.ok, called.plan.log
    assert len(called.legs) >= 1
    for leg in called.legs:
        assert leg.ok, leg.log  # fail-on-unsuccessful: false
        assert "::group::setup" in leg.visible_log
    assert called.report is not None
    assert called.report.ok, called.report.log
    # setup ran once per leg, each in its own checkout, before any run.
    installs = (ledger / "installs").read_text().split("\n")
    legs = [path for path in checkouts if "-leg-" in path.name]
    assert sorted(line for line in installs if line) == sorted(f"installed {path}" for path in legs)
    # The key reached every run; the test gate judged each one.
    for task in TASKS:
        assert (ledger / f"{task['id']}.key").read_text() == KEY, task["id"]
    rows = {run_id: row for run_id, row in table_rows(called.report.summary)}
    assert sorted(rows) == sorted(task["id"] for task in TASKS)
    for run_id, status in (("fix-a", "succeeded"), ("fix-b", "succeeded"), ("break-c", "regressed")):
        assert status in status_of(called.report.summary, run_id), run_id
    # Nothing kept holds a secret.
    texts = everything_captured(called, [tmp_path / "workflow-1", *checkouts], github)
    assert any(name.endswith("run.log") for name in texts)
    for name, text in texts.items():
        assert KEY not in text, name
        assert OTHER not in text, name
    if rerun is not None:  # item 4: a draft pull request for each run that succeeded, once
        assert rerun.report is not None
        assert rerun.report.ok, rerun.report.log
        opened = [r for r in github.requests if r.method == "POST" and r.path.endswith("/pulls")]
        assert sorted(r.body["title"] for r in opened) == ["Fix a", "Fix b"]  # none for break-c
        assert all(r.body.get("draft") is True for r in opened)
        assert sorted(pull["title"] for pull in github.pulls.values()) == ["Fix a", "Fix b"]
