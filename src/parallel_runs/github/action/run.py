"""The action's run mode: one leg of the matrix, through the one engine entry point.

With a shared store the leg is a `worker` of the planned batch; without, `run --shard K/N`. Each
finished run's output is a `::group::` in the log; the runs that did not succeed become annotations
(at most 10 shown); with push-branches the finished runs' branches go to `origin`; with
pull-requests each succeeded run's branch is pushed and has its pull request (pulls.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from parallel_runs.batch.result import HeldRun, RunError, RunSummary, SkippedRun
from parallel_runs.config import DEFAULT_GRACE_SECONDS
from parallel_runs.core.model import Outcome
from parallel_runs.core.redaction import Redactor
from parallel_runs.errors import EXIT_FAILED, EXIT_OK
from parallel_runs.github.action.changes import write_leg_manifest
from parallel_runs.github.action.outputs import say, set_outputs
from parallel_runs.github.action.settings import ActionSettings
from parallel_runs.github.commands import Annotations, end_group, group

if TYPE_CHECKING:
    from parallel_runs.batch.result import BatchResult
    from parallel_runs.config.run import RunSettings
    from parallel_runs.github.progress import ProgressSink

__all__ = ["annotate_result", "run_leg"]


def annotate_result(result: BatchResult, annotations: Annotations) -> None:
    """An error for each run that did not succeed here, a warning for each one not carried out."""
    for end in result.ends:
        title = f"run {end.run_id}"
        if isinstance(end, RunSummary) and not end.final.outcome.is_success:
            final = end.final
            exit_text = "" if final.exit_code is None else f", exit {final.exit_code}"
            error = f": {final.error}" if final.error else ""
            message = f"{final.outcome.value} (attempt {final.attempt}{exit_text}){error}; log in run.log"
            annotations.add("error", message, title=title)
        elif isinstance(end, RunError):
            annotations.add("error", end.message, title=title)
        elif isinstance(end, HeldRun):
            annotations.add("warning", str(end.error), title=title)
        elif isinstance(end, SkippedRun) and end.outcome is Outcome.NOT_STARTED:
            annotations.add("warning", f"not started: {end.reason}", title=title)


def _push(settings: ActionSettings, result: BatchResult, repo: Path) -> str | None:
    """Push the branches of the runs this leg finished; the problem, if any."""
    from parallel_runs.github.action.pulls import push_run_branches

    branches = sorted(
        {
            end.final.branch
            for end in result.ends
            if isinstance(end, RunSummary) and end.final.head_sha is not None
        }
    )
    if problem := push_run_branches(settings, repo, branches):
        return problem
    say(f"pushed {len(branches)} run branch(es) to origin")
    return None


def run_leg(settings: ActionSettings, plain: ProgressSink) -> int:
    """Work this leg's share of the batch; the exit code follows fail-on-unsuccessful."""
    from parallel_runs import batch as engine
    from parallel_runs.github.progress import GroupedProgress

    work = settings.leg
    if work is None:
        raise TypeError("the run step needs the leg's settings")
    machine = work.machine
    redact = Redactor(machine.secrets | {settings.token or ""})
    if settings.run_inputs.setup is not None and not _setup(settings, work, redact):
        return EXIT_FAILED
    progress = GroupedProgress(plain, runs_dir=machine.runs_dir, out=sys.stdout, redact=redact)
    control = engine.BatchControl(grace=DEFAULT_GRACE_SECONDS, on_event=progress)
    try:
        with engine.stop_on_signals(control):
            result = engine.run(work.request, machine, control)
    finally:
        progress.close()
    write_leg_manifest(settings, result, machine.runs_dir)
    annotations = Annotations(say, redact=redact)
    annotate_result(result, annotations)
    push_problem = _push(settings, result, machine.repo) if settings.push_branches else None
    if push_problem:
        annotations.add("error", push_problem, title="push-branches")
    if settings.pull_requests != "none":
        from parallel_runs.github.action.pulls import open_pull_requests, record_pull_requests

        opened, problems = open_pull_requests(
            settings,
            result,
            repo=machine.repo,
            runs_dir=machine.runs_dir,
            redact=redact,
            pushed=settings.push_branches and push_problem is None,
        )
        if opened and (problem := record_pull_requests(machine, opened)):
            problems.append(problem)
        for problem in problems:
            annotations.add("warning", problem, title="pull-requests")
    annotations.close()
    _outputs(settings, result)
    code = result.exit_code
    if code == EXIT_FAILED and not settings.fail_on_unsuccessful:
        code = EXIT_OK
    return code or (EXIT_FAILED if push_problem else EXIT_OK)


def _setup(settings: ActionSettings, work: RunSettings, redact: Redactor) -> bool:
    """The setup input, once, in the checkout, with what the runs get; its output in a log group.
    False when it failed: the error is annotated, the outputs say no run ended, and none starts."""
    from parallel_runs.core.command import DATABASE_URL_ENV, inherited_environment
    from parallel_runs.core.urls import without_password
    from parallel_runs.github.action.run_inputs import SetupFailed, run_setup

    machine = work.machine
    environ = inherited_environment(machine.environ, machine.pass_env)
    if environ.get(DATABASE_URL_ENV) and DATABASE_URL_ENV not in machine.pass_env:  # as a run gets it
        environ[DATABASE_URL_ENV] = without_password(environ[DATABASE_URL_ENV])
    say(group("setup"))
    try:
        run_setup(
            settings.run_inputs.setup or "",
            cwd=machine.repo,
            environ=environ,
            redact=redact,
            say=say,
        )
    except SetupFailed as exc:
        say(end_group())
        annotations = Annotations(say, redact=redact)
        annotations.add("error", str(exc), title="setup")
        annotations.close()
        counts = {"run-count": "0", "succeeded": "0", "failed": "0", "status": "failure"}
        set_outputs(settings, {"batch-id": work.batch_id, **counts})
        return False
    say(end_group())
    return True


def _outputs(settings: ActionSettings, result: BatchResult) -> None:
    from parallel_runs.batch.result import outcome_of

    good = sum(1 for end in result.ends if outcome_of(end).is_success and not isinstance(end, RunError))
    set_outputs(
        settings,
        {
            "batch-id": result.batch_id,
            "base-sha": result.base_sha,
            "run-count": str(len(result.ends)),
            "succeeded": str(good),
            "failed": str(len(result.ends) - good),
            "status": "success" if good == len(result.ends) else "failure",
        },
    )
