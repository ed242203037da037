"""Every example workflow that starts a `postgres` service container works against it as it comes: a
new, empty database (issue #20, item 1). The example's job runs in the step harness, step by step,
with the service's URL pointed at a fresh database of the test server."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from parallel_runs.store.migrate import HEAD_REVISION
from tests.action_expressions import Scope, condition, substitute
from tests.action_flow import Workflow, pull_request_event, table_rows
from tests.action_harness import ROOT, ActionResult, Job
from tests.helpers import git

EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
IDS = ("pr-a", "pr-b", "pr-c")


def postgres_jobs() -> list[tuple[str, str]]:
    """(example, job) of every example job with a postgres service container."""
    found = []
    for path in EXAMPLES:
        for name, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            images = [str(service.get("image", "")) for service in (job.get("services") or {}).values()]
            if any(image.split(":")[0].endswith("postgres") for image in images):
                found.append((path.name, name))
    return found


def test_the_pull_request_example_is_among_them() -> None:
    assert ("pull-request.yml", "batch") in postgres_jobs()  # the collection below is not empty


def on_fresh_database(value: str, fresh: str) -> str:
    """A URL of the service container (127.0.0.1:5432, its password) moved to the fresh database."""
    if not value.startswith("postgresql://"):
        return value
    target = make_url(fresh)
    return (
        make_url(value)
        .set(host=target.host, port=target.port, database=target.database, username=target.username)
        .render_as_string(hide_password=False)
    )


def project(make_repo: Callable[..., Path], ledger: Path) -> Path:
    """A repository the examples can run as written: the ids file, `make codemod`, a pytest suite."""
    return make_repo(
        files={
            ".github/parallel-runs-ids.txt": "\n".join(IDS) + "\n",
            "Makefile": f'codemod:\n\techo "$$PARALLEL_RUNS_RUN_ID" >> {ledger}\n\techo changed > out.txt\n',
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
            "requirements.txt": "pytest\n",
        }
    )


def run_job(job: Job, spec: dict[str, Any]) -> dict[str, ActionResult]:
    """The job's steps in order: checkout is the workspace itself, each step of this action runs in
    the harness; any other step has no stand-in here."""
    steps: dict[str, Any] = {}
    results: dict[str, ActionResult] = {}
    failed = False
    for index, step in enumerate(spec["steps"]):
        scope = Scope({"env": job.env, "steps": steps, "github": {"token": ""}, "inputs": {}}, failed=failed)
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@") or not condition(step.get("if"), scope):
            continue
        assert uses.startswith("autopack/parallel-runs@"), f"no stand-in for step {step}"
        inputs = {key: substitute(str(value), scope) for key, value in (step.get("with") or {}).items()}
        result = job.run(inputs)
        step_id = step.get("id", f"step{index}")
        results[step_id] = result
        steps[step_id] = {"outputs": result.outputs, "outcome": "success" if result.ok else "failure"}
        failed = failed or not result.ok
    return results


@pytest.mark.parametrize(("example", "job_name"), postgres_jobs())
def test_an_example_with_a_postgres_service_works_on_a_fresh_database(
    example: str,
    job_name: str,
    make_repo: Callable[..., Path],
    tmp_path: Path,
    scratch_database: Callable[[], str],
) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "workflows" / example).read_text())["jobs"][job_name]
    ledger = tmp_path / "ledger"
    repo = project(make_repo, ledger)
    fresh = scratch_database()
    workflow = Workflow(
        tmp_path / "workflow",
        event_name="pull_request",
        event=pull_request_event(7, git(repo, "rev-parse", "HEAD")),
    )
    job = workflow.job(repo, job_name)
    job.env |= {name: on_fresh_database(str(value), fresh) for name, value in (spec.get("env") or {}).items()}
    # The runner's python is the tests' own interpreter: the example's setup installs its requirements
    # and pytest with its pip (already there, so nothing is downloaded).
    job.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    results = run_job(job, spec)

    passwords = {make_url(v).password for v in job.env.values() if v.startswith("postgresql://")} - {None}
    for step_id, result in results.items():
        assert result.ok, f"{example} step {step_id}:\n{result.log}"
        assert not any(str(password) in result.visible_log for password in passwords)
    # Its legs install what the test gate needs first (issue #20: `pytest -q` was not found).
    modes = {
        step.get("id", f"step{n}"): (step.get("with") or {}).get("mode")
        for n, step in enumerate(spec["steps"])
    }
    legs = [result for step_id, result in results.items() if modes[step_id] == "run"]
    assert legs
    assert all("::group::setup" in leg.visible_log and "pytest" in leg.visible_log for leg in legs)
    plans = [result for result in results.values() if result.outputs.get("matrix")]
    assert len(plans) == 1
    assert f"created the parallel-runs schema (revision {HEAD_REVISION})" in plans[0].log
    assert Counter(ledger.read_text().split()) == Counter(IDS)  # each run executed once
    reports = [result for result in results.values() if "report-path" in result.outputs]
    summary = "".join(result.summary for result in reports if result.outputs["report-path"])
    assert table_rows(summary) == [(run_id, "succeeded") for run_id in IDS]
