"""A worktree made ready before the run's command: --copy-ignored, then --setup-command (once per
reused worktree while its output is kept)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from parallel_runs import git
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.core.command import RunContext, render_argv
from parallel_runs.core.durations import format_duration
from parallel_runs.errors import ParallelRunsError
from parallel_runs.files import append_log
from parallel_runs.gate.environments import SETUP_ESCAPE_FIX, changed_outside, watch_sites
from parallel_runs.process import CommandResult, Deadline, run_command

__all__ = ["prepare_worktree"]


def prepare_worktree(
    batch: EffectiveBatch,
    context: RunContext,
    env: dict[str, str],
    *,
    run_log: Path,
    grace: float,
    on_start: Callable[[int], None],
    deadline: Deadline | None = None,
    slot: git.ReuseSlot | None = None,
) -> CommandResult | None:
    """Copy the ignored files asked for, then run the setup command (its output goes to run.log);
    how that failed (`setup_failed: ...` as the start error: it exited non-zero, or installed into a
    Python environment outside the worktree), or None when the worktree is ready.

    `slot`: the worker's reused worktree; the setup is skipped when the same setup at the same base
    commit succeeded there before and its reset kept something (--keep-ignored): its output."""
    definition, machine = batch.definition, batch.machine
    if slot is not None:
        append_log(run_log, f"--- parallel-runs: {slot.note} ---\n")
    try:
        git.copy_ignored(machine.repo, context.workspace, definition.copy_ignored, skip=machine.runs_dir)
    except (ParallelRunsError, OSError) as exc:
        return CommandResult(exit_code=None, timed_out=False, start_error=f"setup_failed: {exc}")
    if definition.setup is None:
        return None
    done_before = f"{definition.setup.shell or definition.setup.argv!r} at {context.base_sha}"
    if slot is not None and slot.setup_kept(done_before):
        kept = ", ".join(slot.kept)
        append_log(run_log, f"--- parallel-runs: setup skipped: its output was kept ({kept}) ---\n")
        return None
    append_log(run_log, f"--- parallel-runs: setup · {definition.setup.shell} ---\n")
    sites, before = watch_sites(env, context.workspace)
    began = time.monotonic()
    setup = run_command(
        render_argv(definition.setup, context),
        cwd=context.workspace,
        env=env,
        log_path=run_log,
        timeout=definition.timeout,
        grace=grace,
        on_start=on_start,
        deadline=deadline,
    )
    took = format_duration(time.monotonic() - began)
    append_log(run_log, f"--- parallel-runs: setup took {took}, exit {setup.exit_code} ---\n")
    failed = _failure(setup, escaped=changed_outside(sites, before), took=took)
    if failed is None and slot is not None:  # what it wrote and a reset keeps serves the slot's next runs
        slot.setup = done_before
    return failed


def _failure(setup: CommandResult, *, escaped: str | None, took: str) -> CommandResult | None:
    """How the setup failed (installed outside its worktree, exited non-zero), None if it did not."""
    if escaped:
        problem = (
            f"the setup command installed outside its worktree, into {escaped}; that was put back as it was"
        )
        # No exit code: the setup's own 0 must not make the run's outcome `succeeded`.
        return replace(setup, exit_code=None, start_error=f"setup_failed: {problem}. Fix: {SETUP_ESCAPE_FIX}")
    if setup.exit_code == 0:
        return None
    if setup.lapsed:  # not a setup failure: the attempt is abandoned like its command would be
        return setup
    how = "timed out" if setup.timed_out else setup.start_error or f"exited {setup.exit_code}"
    return replace(setup, start_error=f"setup_failed: the setup command {how} after {took}")
