"""`plan`: decide the legs of a GitHub matrix, queueing the batch first when there is a shared store."""

from __future__ import annotations

from parallel_runs import git
from parallel_runs.batch.starting import enqueue
from parallel_runs.config import PlanSettings
from parallel_runs.core.shards import Plan, leg_count

__all__ = ["plan_batch"]


def plan_batch(settings: PlanSettings) -> Plan:
    """The matrix for `settings`: worker legs of a queued batch, or fixed shards of the ids."""
    if settings.enqueue is None:
        return Plan(
            batch_id=settings.batch_id,
            run_count=len(settings.run_ids),
            base_sha=git.resolve_commit(settings.repo, settings.base_ref),
            legs=leg_count(len(settings.run_ids), settings.max_jobs),
            shared=False,
        )
    definition, skipped = enqueue(settings.enqueue)
    # Runs the resume rules skipped need no leg: a batch run again for its two failures gets two.
    return Plan(
        batch_id=definition.batch_id,
        run_count=len(definition.run_ids),
        base_sha=definition.base_sha,
        legs=leg_count(len(definition.run_ids) - len(skipped), settings.max_jobs),
        shared=True,
    )
