"""What a batch is: its whole definition, so a worker on any machine runs exactly what `run` asked. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError

__all__ = ["BatchDefinition", "BatchRequest", "BatchSummary", "skip_reason"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchDefinition:
    """Everything a worker on any machine needs to run a batch exactly as it was started."""

    batch_id: str
    run_ids: tuple[str, ...]
    command: CommandSpec
    base_sha: str
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    # The resume rules and the budget belong to the latest `run` of the batch: running a batch
    # again with --redo is the same batch, asked to do more.
    redo: bool = field(default=False, compare=False)  # run again runs whose latest attempt succeeded
    only_failed: bool = field(default=False, compare=False)  # run only runs whose latest did not succeed
    tests: TestSpec | None = None  # judge each attempt by its test delta against the base commit
    fail_on_regression: bool = True
    grace: float = DEFAULT_GRACE_SECONDS
    setup: CommandSpec | None = None  # run in each fresh worktree before the command (and the baseline)
    copy_ignored: tuple[str, ...] = ()  # git-ignored files of the checkout copied into each worktree
    halt_on_failure: int | None = None  # after this many runs did not succeed, start nothing new
    # --tasks: each run's task (its JSON), in the order of run_ids; () when the ids were given as ids.
    tasks: tuple[str, ...] = ()
    # The budget's end (--max-batch-time) by the store's clock.
    deadline: datetime | None = field(default=None, compare=False)
    created_at: datetime | None = field(default=None, compare=False)  # set by the store

    def __post_init__(self) -> None:
        if not self.run_ids:
            raise ConfigError(f"batch {self.batch_id!r} has no runs")
        if len(set(self.run_ids)) != len(self.run_ids):
            raise ConfigError(f"batch {self.batch_id!r} lists a run id more than once")
        if self.tasks and len(self.tasks) != len(self.run_ids):
            raise ConfigError(
                f"batch {self.batch_id!r} has {len(self.tasks)} tasks for {len(self.run_ids)} runs"
            )

    @property
    def test_command(self) -> str | None:
        """The test command's shell text, if the batch has one."""
        return self.tests.command.shell if self.tests else None

    def differences(self, other: BatchDefinition) -> list[str]:
        """Names of the fields that make two definitions different batches (resume rules aside)."""
        return [f.name for f in fields(self) if f.compare and getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRequest:
    """What a batch is asked to do, as `run` and `plan` read it (docs/CONTRACTS.md): the definition
    before its base commit is resolved and its budget placed on the store's clock.

    A field of the same name in BatchDefinition is carried over as is (`definition`), so an option
    the workers need is one field in each class, in this file.
    """

    batch_id: str
    run_ids: tuple[str, ...]
    command: CommandSpec
    base_ref: str = "HEAD"
    timeout: float | None = None
    grace: float = DEFAULT_GRACE_SECONDS
    retries: int = 0
    retry_delay: float = 0.0
    redo: bool = False
    only_failed: bool = False
    max_batch_time: float | None = None  # seconds; the definition holds the deadline it gives
    tests: TestSpec | None = None  # the test command whose baseline delta judges each run
    fail_on_regression: bool = True  # a run with persistent new test failures ends `regressed`
    setup: CommandSpec | None = None  # run in each fresh worktree before the command
    copy_ignored: tuple[str, ...] = ()  # git-ignored files copied from the checkout into each worktree
    halt_on_failure: int | None = None  # after this many runs did not succeed, start nothing new
    tasks: tuple[str, ...] = ()  # --tasks: each run's task (its JSON), in the order of run_ids

    def definition(self, *, base_sha: str, deadline: datetime | None = None) -> BatchDefinition:
        """The batch's definition: every field both classes name, the resolved commit and the deadline."""
        carried = {f.name: getattr(self, f.name) for f in fields(BatchDefinition) if f.name in _REQUESTED}
        return BatchDefinition(**carried, base_sha=base_sha, deadline=deadline)


_REQUESTED = frozenset(f.name for f in fields(BatchRequest))


def _judged_otherwise(latest: Attempt, definition: BatchDefinition) -> str:
    """How a succeeded run's judging differs from this batch's test gate, and the hint to act on it."""
    if definition.tests is None:
        return " (use --redo to run it again)"
    if latest.tests is None:
        return ", without a test command (use --redo to judge it with this one)"
    if latest.tests.judged_by not in (None, definition.tests.signature):
        before = f" `{latest.tests.test_command}`" if latest.tests.test_command else ""
        return f" under another test command or test settings{before} (use --redo to judge it again)"
    return " (use --redo to run it again)"


def skip_reason(latest: Attempt | None, definition: BatchDefinition) -> str | None:
    """Why the resume rules need no new attempt of a run whose latest earlier attempt is `latest`."""
    if latest is not None and latest.outcome is Outcome.SUCCEEDED and not definition.redo:
        return f"attempt {latest.attempt} already succeeded{_judged_otherwise(latest, definition)}"
    if definition.only_failed and latest is None:
        return "never ran (--only-failed runs only runs that did not succeed)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSummary:
    """One batch at a glance: how many of its runs ended (or stand) how, and when it began and ended."""

    batch_id: str
    counts: dict[str, int]  # outcome (or `queued`, `running`) -> runs; each run counted by its latest
    first: datetime | None  # when the batch was created or its first attempt started
    last: datetime | None  # when its last attempt ended (or started, while one runs)
    refused: str | None = None  # why the batch was refused before any run started (its baseline)
    hosts: tuple[str, ...] = ()  # the hosts its attempts ran on, sorted (the read side's batches)

    @property
    def runs(self) -> int:
        """How many runs the batch has."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (ISO-8601 times)."""
        return {
            "batch_id": self.batch_id,
            "runs": self.runs,
            "counts": dict(self.counts),
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "state": "refused" if self.refused is not None else None,
            "refused": self.refused,
        }

    @classmethod
    def refusal(cls, document: dict[str, object]) -> BatchSummary:
        """A refused batch from its record (`{"batch_id", "refused_at", "reason", "runs"}`)."""
        at = datetime.fromisoformat(str(document["refused_at"]))
        runs = document.get("runs")
        counts = {"not_started": runs} if isinstance(runs, int) and runs > 0 else {}
        batch_id, reason = str(document["batch_id"]), str(document["reason"])
        return cls(batch_id=batch_id, counts=counts, first=at, last=at, refused=reason)
