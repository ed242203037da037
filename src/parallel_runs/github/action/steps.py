"""One step of the action: `prepare`, or `main` in the mode the input names (plan, run, report)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parallel_runs.github.action.outputs import mask_secrets
from parallel_runs.github.action.prepare import plan, prepare
from parallel_runs.github.action.settings import ActionSettings

if TYPE_CHECKING:
    from parallel_runs.github.progress import ProgressSink

__all__ = ["run_step"]


def run_step(settings: ActionSettings, plain: ProgressSink) -> int:
    """Run one step of the action; its exit code fails the step or not. `plain`: the batch's log lines
    (the run mode adds each finished run's group)."""
    mask_secrets(settings)
    if settings.step == "prepare":
        return prepare(settings)
    if settings.mode == "plan":
        return plan(settings)
    if settings.mode == "run":
        from parallel_runs.github.action.run import run_leg

        return run_leg(settings, plain)
    from parallel_runs.github.action.report import report_batch

    return report_batch(settings)
