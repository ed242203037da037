"""The action end to end on one real PostgreSQL store: plan queues the batch, 3 worker legs in 2
clones claim its runs, the report reads the store (acceptance of issue #11)."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections import Counter
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.action_flow import Workflow, table_rows
from tests.helpers import clone

IDS = [f"job-{n:02d}" for n in range(1, 13)]


def with_password(url: str) -> tuple[str, str]:
    """The URL with a password in it (the local server's trust auth ignores it), and the password."""
    parsed = make_url(url)
    password = parsed.password or f"pw-{secrets.token_hex(8)}"
    return parsed.set(password=password).render_as_string(hide_password=False), str(password)


def files_holding(root: Path, secret: str) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_plan_worker_legs_and_report_on_one_postgres_store(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    url, password = with_password(database_url)
    workflow = Workflow(tmp_path / "workflow")
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    ledger = tmp_path / "ledger"
    # The ledger tells which runs ran, and how often.
    inputs = {
        "run-ids": "job-{01..12}",
        "command": f'echo "$PARALLEL_RUNS_RUN_ID $PPID" >> {ledger}; echo x > out.txt; sleep 0.2',
        "database-url": url,
        "batch-id": f"pg-{secrets.token_hex(4)}",
    }
    plan = workflow.job(first, "plan").run(inputs | {"mode": "plan", "max-jobs": "3"})
    assert plan.ok, plan.log
    assert json.loads(plan.outputs["matrix"]) == {"leg": [1, 2, 3]}
    assert plan.outputs["run-count"] == "12"
    assert plan.outputs["batch-id"] == inputs["batch-id"]
    assert not ledger.exists()  # plan only queued the batch

    legs = workflow.legs([first, second], inputs, plan)
    for leg in legs:
        assert leg.ok, leg.log
    lines = [line.split() for line in ledger.read_text().splitlines()]
    assert Counter(run_id for run_id, _ in lines) == Counter(IDS)  # every run executed exactly once
    assert sum(int(leg.outputs["run-count"]) for leg in legs) == 12

    report = workflow.job(tmp_path, "report").run(
        {"mode": "report", "batch-id": inputs["batch-id"], "database-url": url}
    )
    assert report.ok, report.log
    assert table_rows(report.summary) == [(run_id, "succeeded") for run_id in IDS]
    assert "```mermaid\ngantt\n" in report.summary
    assert report.outputs["status"] == "success"
    assert report.outputs["run-count"] == "12"

    # The password is masked before anything else prints, and never printed by us at all.
    for result in (plan, *legs, report):
        assert result.log.startswith("::add-mask::"), result.log[:200]
        assert password in result.masks
        assert password not in result.visible_log
        assert password not in report.summary
        assert all(password not in value for value in result.outputs.values())
    assert files_holding(workflow.artifacts, password) == []
    for clone_dir in (first, second):
        assert (
            password
            not in subprocess.run(
                ["git", "log", "--all", "-p"], cwd=clone_dir, capture_output=True, text=True, check=True
            ).stdout
        )
