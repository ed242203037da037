"""One batch as this machine runs it: the store's definition, with this machine's side of it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from parallel_runs.config import WorkerSettings
from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.suite import TestSpec
from parallel_runs.git import SharedState

__all__ = ["EffectiveBatch"]


@dataclass(frozen=True, slots=True)
class EffectiveBatch:
    """The batch's definition and the machine's settings; where a worker overrides, it wins here."""

    definition: BatchDefinition
    machine: WorkerSettings
    shared: SharedState | None = None  # the repository's shared config, attributes and ignores at the start
    # Each run's task by run id, made once: a --tasks batch may hold 100,000 runs.
    _tasks: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_tasks", dict(zip(self.definition.run_ids, self.definition.tasks, strict=False))
        )

    def task(self, run_id: str) -> str | None:
        """The run's task (its JSON text), or None when the batch has no tasks."""
        return self._tasks.get(run_id)

    def paths(self, slug: str) -> RunPaths:
        """Where a run's worktree, locks and artifacts live on this machine."""
        return RunPaths(self.machine.runs_dir, slug)

    @property
    def grace(self) -> float:
        """Time between SIGTERM and SIGKILL when a run is stopped."""
        return self.machine.grace if self.machine.grace is not None else self.definition.grace

    @property
    def tests(self) -> TestSpec | None:
        """The test gate of each attempt, if the batch has a test command."""
        spec, machine = self.definition.tests, self.machine
        if spec is None:
            return None
        return replace(
            spec,
            timeout=machine.test_timeout if machine.test_timeout is not None else spec.timeout,
            retries=machine.test_retries if machine.test_retries is not None else spec.retries,
            setup=self.definition.setup,
            copy_ignored=self.definition.copy_ignored,
        )

    @property
    def fail_on_regression(self) -> bool:
        """Whether a run that broke tests ends `regressed`."""
        override = self.machine.fail_on_regression
        return override if override is not None else self.definition.fail_on_regression
