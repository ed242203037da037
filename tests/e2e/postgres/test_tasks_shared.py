"""Tasks through the shared store (issue #20 item 3): plan queues the batch with its tasks, and worker
legs in clones that never saw the tasks file give each run its task; the report names each run by its
title and says how to get and apply its patch from the store."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from tests.action_flow import Workflow
from tests.helpers import clone

TASKS = [
    {"id": "alpha", "title": "Alpha task", "prompt": "write alpha"},
    {"id": "beta", "title": "Beta task", "prompt": "write beta"},
    {"id": "gamma", "prompt": "write gamma"},
]


def test_worker_legs_elsewhere_give_each_run_its_task(repo: Path, tmp_path: Path, database_url: str) -> None:
    tasks = tmp_path / "tasks.jsonl"  # outside every checkout: only plan reads it
    tasks.write_text("".join(json.dumps(task) + "\n" for task in TASKS), encoding="utf-8")
    workflow = Workflow(tmp_path / "workflow")
    batch = f"tasks-{secrets.token_hex(4)}"
    command = 'printf %s "$PARALLEL_RUNS_TASK_PROMPT" > prompt.txt; cp "$PARALLEL_RUNS_TASK" task.json'
    common = {"database-url": database_url, "batch-id": batch, "command": command}
    plan = workflow.job(clone(repo, "planner"), "plan").run(
        common | {"mode": "plan", "max-jobs": "2", "tasks-file": str(tasks)}
    )
    assert plan.ok, plan.log
    assert plan.outputs["run-count"] == "3"
    legs = workflow.legs([clone(repo, "runner-a"), clone(repo, "runner-b")], common, plan)
    assert all(leg.ok for leg in legs), [leg.log for leg in legs]

    report = workflow.job(tmp_path, "report").run({"mode": "report", **common})
    assert report.ok, report.log
    summary = report.summary
    assert "| `alpha` | Alpha task | \u2705 succeeded |" in summary
    assert "| `gamma` | - | \u2705 succeeded |" in summary
    assert "#### Where the changes are" in summary
    # The command the summary gives, run on a laptop's clone, brings the run's change.
    [line] = [line for line in summary.splitlines() if line.startswith("- `beta` Beta task:")]
    found = re.search(r"`(parallel-runs artifacts get .*)`$", line)
    assert found, line
    laptop = clone(repo, "laptop")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # where pip put parallel-runs
    env = os.environ | {"DATABASE_URL": database_url, "PATH": path}
    subprocess.run(["bash", "-c", found.group(1)], cwd=laptop, env=env, check=True, capture_output=True)
    assert (laptop / "prompt.txt").read_text() == "write beta"
    assert json.loads((laptop / "task.json").read_text()) == TASKS[1]
