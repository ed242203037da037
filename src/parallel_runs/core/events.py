"""What a batch reports while it runs: one frozen event per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["Event", "EventKind"]


class EventKind(StrEnum):
    """Kinds of batch events (also the `event` field of --json-events lines)."""

    BASELINE_STARTED = "baseline_started"  # the test command at the base commit, before any run
    BASELINE_FINISHED = "baseline_finished"
    BATCH_STARTED = "batch_started"
    ATTEMPT_STARTED = "attempt_started"
    COMMAND_STARTED = "command_started"
    ATTEMPT_FINISHED = "attempt_finished"
    RETRY_SCHEDULED = "retry_scheduled"
    RUN_SKIPPED = "run_skipped"
    RUN_HELD = "run_held"
    RUN_NOT_STARTED = "run_not_started"
    RUN_ERROR = "run_error"
    STOP_REQUESTED = "stop_requested"
    HALTED = "halted"  # --halt-on-failure: nothing new starts, running runs finish
    BATCH_FINISHED = "batch_finished"


@dataclass(frozen=True, slots=True)
class Event:
    """One event; `data` holds JSON-ready details (attempt, outcome, exit code, ...)."""

    kind: EventKind
    at: datetime
    run_id: str | None = None
    data: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The event as one JSON object."""
        document: dict[str, object] = {"event": self.kind.value, "at": self.at.isoformat()}
        if self.run_id is not None:
            document["run_id"] = self.run_id
        document.update(self.data)
        return document
