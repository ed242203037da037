"""The reusable workflow (.github/workflows/parallel-runs.yml) called in the step harness (a test helper).

Its jobs run as GitHub runs a called workflow: plan, then its matrix of run legs at once, then the
report, each on a fresh runner of the step harness, with the contexts such a job has: `inputs` (the
caller's `with:` over the declared defaults; an undeclared one is an error, as on GitHub),
`secrets` (`secrets: inherit`: the caller's, and `github_token`), `github`, `needs`, `matrix`,
`strategy`. `actions/checkout` is the workspace the test gives; every other step must be this action.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.action_expressions import Scope, condition, substitute
from tests.action_flow import Workflow
from tests.action_harness import ROOT, ActionResult

WORKFLOW = ROOT / ".github" / "workflows" / "parallel-runs.yml"


@dataclass
class Called:
    """The called workflow's jobs as they ran (report None when its `if:` skipped it)."""

    plan: ActionResult
    legs: list[ActionResult]
    report: ActionResult | None

    @property
    def results(self) -> list[ActionResult]:
        return [self.plan, *self.legs, *([self.report] if self.report else [])]


def declared_inputs() -> dict[str, Any]:
    spec = yaml.safe_load(WORKFLOW.read_text())
    inputs: dict[str, Any] = spec[True]["workflow_call"]["inputs"]  # YAML 1.1 reads `on` as True
    return inputs


def _inputs(with_: dict[str, Any]) -> dict[str, Any]:
    declared = declared_inputs()
    unknown = set(with_) - set(declared)
    assert not unknown, f"the reusable workflow has no input {sorted(unknown)}"
    return {name: with_.get(name, spec.get("default", "")) for name, spec in declared.items()}


def _run_job(
    workflow: Workflow, name: str, spec: dict[str, Any], contexts: dict[str, Any], workspace: Path
) -> tuple[ActionResult, dict[str, str]]:
    """The job's one step of this action (checkout: the workspace), and the job's outputs."""
    job = workflow.job(workspace, name)
    results: dict[str, Any] = {}
    found: ActionResult | None = None
    for step in spec["steps"]:
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@"):
            continue
        assert uses.startswith("autopack/parallel-runs@"), f"no stand-in for {step}"
        scope = Scope(contexts | {"steps": results})
        found = job.run({key: substitute(str(value), scope) for key, value in step["with"].items()})
        results[step.get("id", "")] = {"outputs": found.outputs}
    assert found is not None, f"job {name} has no step of this action"
    scope = Scope(contexts | {"steps": results})
    return found, {key: substitute(value, scope) for key, value in (spec.get("outputs") or {}).items()}


def call(
    workflow: Workflow, with_: dict[str, Any], secrets: dict[str, str], checkout: Callable[[str], Path]
) -> Called:
    """Call the reusable workflow with `with_` and `secrets: inherit` of `secrets`; `checkout(job)`: a
    new clone of the repository for that job (its legs' too)."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    base = {
        "inputs": _inputs(with_),
        "secrets": secrets | {"github_token": "ghs_" + "0" * 36},
        "github": {"token": "ghs_" + "0" * 36},
    }
    plan, plan_outputs = _run_job(workflow, "plan", jobs["plan"], base, checkout("plan"))
    needs = {"plan": {"outputs": plan_outputs, "result": "success" if plan.ok else "failure"}}
    legs: list[ActionResult] = []
    if plan.ok:
        numbers = json.loads(plan_outputs["matrix"])["leg"]
        with ThreadPoolExecutor(len(numbers)) as pool:
            running = [
                pool.submit(
                    _run_job,
                    workflow,
                    "run",
                    jobs["run"],
                    base | {"needs": needs, "matrix": {"leg": n}, "strategy": {"job-total": len(numbers)}},
                    checkout(f"leg-{n}"),
                )
                for n in numbers
            ]
            legs = [future.result()[0] for future in running]
    needs["run"] = {"result": "success" if all(leg.ok for leg in legs) else "failure"}
    report = None
    if condition(jobs["report"].get("if"), Scope(base | {"needs": needs})):
        report_dir = workflow.root / "report-job"
        report_dir.mkdir(exist_ok=True)
        report = _run_job(workflow, "report", jobs["report"], base | {"needs": needs}, report_dir)[0]
    return Called(plan, legs, report)
