"""The action end to end without a database: plan → 3 legs running fixed shards in 2 clones, each
uploading its runs dir → report from the downloaded artifacts (acceptance of issue #11)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.action_flow import Workflow, table_rows

IDS = [f"job-{n:02d}" for n in range(1, 13)]


def command(ledger: Path) -> str:
    return (
        f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}; echo "working on $PARALLEL_RUNS_RUN_ID"; echo x > out.txt'
    )


def test_plan_legs_and_report_without_a_database(
    workflow: Workflow, clone: Callable[[str], Path], tmp_path: Path
) -> None:
    first, second = clone("clone-a"), clone("clone-b")
    ledger = tmp_path / "ledger"
    inputs = {"run-ids": "job-{01..12}", "command": command(ledger)}

    plan = workflow.job(first, "plan").run(inputs | {"mode": "plan", "max-jobs": "3"})
    assert plan.ok, plan.log
    assert json.loads(plan.outputs["matrix"]) == {"leg": [1, 2, 3]}
    assert plan.outputs["batch-id"] == f"gh-{workflow.run_id}-1"
    assert plan.outputs["run-count"] == "12"

    legs = workflow.legs([first, second], inputs, plan)
    for leg in legs:
        assert leg.ok, leg.log
        assert leg.outputs["status"] == "success"
    assert Counter(ledger.read_text().split()) == Counter(IDS)  # every run executed exactly once
    assert sorted(p.name for p in workflow.artifacts.iterdir()) == [
        f"parallel-runs-gh-{workflow.run_id}-1-leg-{leg}" for leg in (1, 2, 3)
    ]

    no_checkout = tmp_path / "report-job"
    no_checkout.mkdir()
    report = workflow.job(no_checkout, "report").run({"mode": "report", "batch-id": plan.outputs["batch-id"]})
    assert report.ok, report.log
    assert table_rows(report.summary) == [(run_id, "succeeded") for run_id in IDS]
    assert "```mermaid\ngantt\n" in report.summary
    assert report.outputs | {"report-path": ""} == {
        **report.outputs,
        "status": "success",
        "run-count": "12",
        "succeeded": "12",
        "failed": "0",
        "report-path": "",
    }
    assert Path(report.outputs["report-path"]).read_text().startswith("<!DOCTYPE html>")
    assert (workflow.artifacts / f"parallel-runs-gh-{workflow.run_id}-1-report").is_dir()
