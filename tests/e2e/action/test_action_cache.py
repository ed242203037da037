"""The install step is cached (issue #20 item 2): the first job installs parallel-runs into a venv
that actions/cache saves under a key of the action's files and the Python; the next job restores it
and installs nothing. The harness emulates actions/cache (restore by the exact key and path, save
after the job); the install step runs as written, pip and all. The times are printed (`-s`) for
docs/PERFORMANCE.md, never asserted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.action_flow import Workflow
from tests.action_harness import ActionResult, Job

INPUTS = {"mode": "run", "run-ids": "a", "command": "echo ok > out.txt"}


def job_on_the_runner(workflow: Workflow, repo: Path, temp: Path | None) -> tuple[Job, ActionResult]:
    """A job with the real install step; `temp`: the runner's RUNNER_TEMP, emptied as between jobs
    (a hosted runner's is the same path in every job)."""
    job = workflow.job(repo, "run")
    job.real_install = True
    job.timeout = 600
    if temp is not None:
        shutil.rmtree(temp)
        shutil.copytree(job.runner_temp, temp)  # this job's event file and HOME
        job.runner_temp = temp
    return job, job.run(INPUTS)


@pytest.mark.timeout(900)  # a real pip install of the package, on a loaded machine
def test_the_second_job_restores_the_venv_and_installs_nothing(repo: Path, tmp_path: Path) -> None:
    workflow = Workflow(tmp_path / "workflow")
    _, cold = job_on_the_runner(workflow, repo, None)
    assert cold.ok, cold.log
    assert cold.step("cache").outputs["cache-hit"] == "false"
    venv = Path(cold.step("cache-key").outputs["venv"])
    assert cold.step("install").outputs["python"] == f"{venv}/bin/python"
    [entry] = list(workflow.cache.iterdir())  # saved after the job, under its key
    assert entry.name == cold.step("cache-key").outputs["key"]

    warm_job, warm = job_on_the_runner(workflow, repo, venv.parent)
    assert warm.ok, warm.log
    assert warm.step("cache-key").outputs == cold.step("cache-key").outputs
    assert warm.step("cache").outputs["cache-hit"] == "true"
    assert warm.outputs["status"] == "success"
    # A second use of the action in the same job finds the venv: no restore.
    again = warm_job.run(INPUTS | {"run-ids": "b"})
    assert again.ok, again.log
    assert again.step("cache").outcome == "skipped"
    steps = ("cache-key", "cache", "install")
    times = {
        name: [f"{job.step(step).seconds:.2f}s" for step in steps]
        for name, job in (("cold", cold), ("warm", warm))
    }
    print(f"\n{' + '.join(steps)}: {times}")
