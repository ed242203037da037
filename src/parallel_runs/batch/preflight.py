"""Before any run of a batch starts: the test gate must be able to judge the runs.

The baseline is computed here, once, in this thread (every run then reuses it from the cache), so a
test command that would judge nothing stops the batch before a single run starts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from parallel_runs import gate
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.core.command import inherited_environment
from parallel_runs.core.events import EventKind
from parallel_runs.core.layout import refusal_path
from parallel_runs.errors import BaselineError
from parallel_runs.files import write_json

__all__ = ["check_test_gate"]

log = logging.getLogger(__name__)

_BASELINE = "(baseline)"  # its process group is registered under this name, so a stop reaches it


def _environment(batch: EffectiveBatch) -> dict[str, str]:
    """What a run's test phases see of the environment, run-specific variables aside (same cache key)."""
    machine, definition = batch.machine, batch.definition
    env = inherited_environment(machine.environ, machine.pass_env)
    env.update(
        PARALLEL_RUNS_BATCH_ID=definition.batch_id,
        PARALLEL_RUNS_BASE_SHA=definition.base_sha,
        AUTONOMOUS_RUNS_DIR=str(machine.runs_dir),
        PYTHONUTF8="1",
    )
    return env


def _record_refusal(batch: EffectiveBatch, reason: str) -> None:
    """Keep why the batch was refused, so `batches` and `report` can say it (no run records it)."""
    definition = batch.definition
    document: dict[str, object] = {
        "batch_id": definition.batch_id,
        "refused_at": datetime.now(UTC).isoformat(),
        "reason": reason,
        "runs": len(definition.run_ids),
    }
    try:
        write_json(refusal_path(batch.machine.runs_dir, definition.batch_id), document)
    except OSError as exc:  # the refusal itself is what the user must see
        log.warning("could not record the refusal of batch %r: %s", definition.batch_id, exc)


def check_test_gate(batch: EffectiveBatch, control: BatchControl) -> bool:
    """Warn about code under test no worktree path can shadow; compute the baseline once.

    BaselineError when the baseline cannot judge the runs; False when the batch was stopped meanwhile.
    """
    spec, machine, base_sha = batch.tests, batch.machine, batch.definition.base_sha
    if spec is None:
        return True
    env = _environment(batch)
    mapping = gate.import_mapping(
        command=spec.command.describe(), environ=env, repo=machine.repo, runs_dir=machine.runs_dir
    )
    for unmapped in mapping.unmapped:  # each phase checks its imports: a run that used it will regress
        log.warning("warning: %s", unmapped)
    output = gate.baseline_log_of(runs_dir=machine.runs_dir, base_sha=base_sha, spec=spec, environ=env)
    control.emit(
        EventKind.BASELINE_STARTED, base_sha=base_sha, command=spec.command.describe(), log=str(output)
    )
    try:
        baseline = gate.check_baseline(
            repo=machine.repo,
            runs_dir=machine.runs_dir,
            base_sha=base_sha,
            spec=spec,
            environ=env,
            grace=batch.grace,
            on_start=lambda pgid: control.register(_BASELINE, pgid),
        )
    except BaselineError as refused:
        if control.is_stopping:
            return False
        _record_refusal(batch, str(refused))
        raise
    finally:
        control.unregister(_BASELINE)
    if control.is_stopping:
        return False
    control.emit(EventKind.BASELINE_FINISHED, counts=baseline.results.counts(), reused=baseline.reused)
    return True
