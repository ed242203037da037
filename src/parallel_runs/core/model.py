"""Frozen domain objects shared by every layer: what an attempt of a run was."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["Attempt", "Outcome", "PullRequest", "TestSummary"]


class Outcome(StrEnum):
    """How an attempt ended (CONTRACTS §5). `running` is the state of an attempt still in progress."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REGRESSED = "regressed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"  # the batch was stopped before this run began
    HELD = "held"  # not executed here: another live process holds the run

    @property
    def is_success(self) -> bool:
        """True for outcomes that leave the batch exit code at 0."""
        return self in (Outcome.SUCCEEDED, Outcome.SKIPPED)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list | tuple) else ()


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in value.items()) if isinstance(value, dict) else ()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSummary:
    """What the store, result.json and the reports keep of a test evaluation (ci/delta.json has it all)."""

    __test__ = False  # not a pytest class, whatever its name says

    status: str  # passed | regressed | tests_crashed | tests_failed | tests_imported_elsewhere
    summary: str  # the tests column: `+2 -1 (1 flaky)`, `0`, `crashed`, `failed`, `exit 0`, ...
    severity: str | None = None
    reason: str | None = None
    new_failures: tuple[str, ...] = ()  # as the runner names them (pytest node ids)
    flaky: tuple[str, ...] = ()
    newly_passing: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] = ()  # (test, message) of the first new failures
    judged_by: str | None = None  # TestSpec.signature of the gate that judged (None in old records)
    test_command: str | None = None  # the test command that judged, as the user wrote it

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> TestSummary:
        """Read the stored JSON form (unknown keys are ignored, missing ones take defaults)."""
        messages = document.get("messages")
        return cls(
            status=str(document.get("status", "")),
            summary=str(document.get("summary", "-")),
            severity=_text(document.get("severity")),
            reason=_text(document.get("reason")),
            new_failures=_strings(document.get("new_failures")),
            flaky=_strings(document.get("flaky")),
            newly_passing=_strings(document.get("newly_passing")),
            messages=_pairs(messages),
            judged_by=_text(document.get("judged_by")),
            test_command=_text(document.get("test_command")),
        )

    @property
    def counts(self) -> str:
        """For an event line: `+80 \N{MINUS SIGN}0, 2 flaky` (broken, fixed); `crashed: why`."""
        if self.status == "tests_crashed":
            return f"crashed: {self.reason}" if self.reason else "crashed"
        if self.status == "tests_failed":
            return f"failed: {self.reason}" if self.reason else "failed"
        if self.status == "tests_imported_elsewhere":
            return f"tests_imported_elsewhere: {self.reason}"
        if self.status == "tests_unavailable":
            return "unavailable"
        if self.summary == "exit 0":  # judged by exit status: no per-test counts
            return "exit 0"
        flaky = f", {len(self.flaky)} flaky" if self.flaky or self.status == "regressed" else ""
        return f"+{len(self.new_failures)} \u2212{len(self.newly_passing)}{flaky}"

    def to_json(self) -> dict[str, object]:
        """The stored JSON form."""
        return {
            "status": self.status,
            "summary": self.summary,
            "severity": self.severity,
            "new_failures": list(self.new_failures),
            "flaky": list(self.flaky),
            "newly_passing": list(self.newly_passing),
            "reason": self.reason,
            "messages": dict(self.messages),
            "judged_by": self.judged_by,
            "test_command": self.test_command,
        }


@dataclass(frozen=True, slots=True)
class PullRequest:
    """The pull request opened (or updated) from a run's branch after its attempt succeeded."""

    number: int
    url: str

    def to_json(self) -> dict[str, object]:
        """As every report and the dashboard's API give it."""
        return {"number": self.number, "url": self.url}


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One attempt of one run: written to result.json and the store, read back by every report."""

    run_id: str
    slug: str
    batch_id: str
    attempt: int
    outcome: Outcome
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None  # None while the attempt is running
    base_sha: str
    head_sha: str | None
    branch: str
    host: str
    pid: int
    error: str | None = None
    error_tail: str | None = None  # the last lines of a failed or timed-out attempt's output
    changed_files: int | None = None  # files that differ from the base commit on the run branch
    tests: TestSummary | None = None  # set when a test command judged the attempt
    stray_processes: int = 0  # processes the run left behind, stopped at its end (result.json only)
    restored_files: tuple[str, ...] = ()  # shared files the run changed and the batch put back
    pull_request: PullRequest | None = None  # recorded by the action after the batch (store only)

    @classmethod
    def unexecuted(
        cls,
        *,
        run_id: str,
        slug: str,
        batch_id: str,
        attempt: int,
        outcome: Outcome,
        base_sha: str,
        branch: str,
        host: str,
        pid: int,
        at: datetime,
        error: str,
    ) -> Attempt:
        """An attempt whose command never ran (not started, held elsewhere): no exit, no new commit."""
        return cls(
            run_id=run_id,
            slug=slug,
            batch_id=batch_id,
            attempt=attempt,
            outcome=outcome,
            exit_code=None,
            started_at=at,
            finished_at=at,
            base_sha=base_sha,
            head_sha=None,
            branch=branch,
            host=host,
            pid=pid,
            error=error,
        )

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the attempt, or None while it is still running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, object]:
        """The result.json document (`status` holds the outcome)."""
        duration = self.duration_seconds
        return {
            "run_id": self.run_id,
            "slug": self.slug,
            "batch_id": self.batch_id,
            "attempt": self.attempt,
            "status": self.outcome.value,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": None if duration is None else round(duration, 3),
            "base_sha": self.base_sha,
            "head_sha": self.head_sha,
            "branch": self.branch,
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
            "error_tail": self.error_tail,
            "changed_files": self.changed_files,
            "tests": self.tests.to_json() if self.tests else None,
            "stray_processes": self.stray_processes,
            "restored_files": list(self.restored_files),
        }

    def record_json(self) -> dict[str, object]:
        """As the reports and the dashboard's API give it: result.json's fields and what the store
        recorded after the attempt ended (its pull request, which result.json never knows)."""
        return self.to_json() | {"pull_request": self.pull_request.to_json() if self.pull_request else None}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Attempt:
        """Read `record_json`'s document back (KeyError, TypeError or ValueError when it is not one)."""
        finished, tests, pull = document["finished_at"], document.get("tests"), document.get("pull_request")
        return cls(
            run_id=str(document["run_id"]),
            slug=str(document["slug"]),
            batch_id=str(document["batch_id"]),
            attempt=int(document["attempt"]),
            outcome=Outcome(document["status"]),
            exit_code=document["exit_code"],
            started_at=datetime.fromisoformat(document["started_at"]),
            finished_at=None if finished is None else datetime.fromisoformat(finished),
            base_sha=str(document["base_sha"]),
            head_sha=_text(document["head_sha"]),
            branch=str(document["branch"]),
            host=str(document["host"]),
            pid=int(document["pid"]),
            error=_text(document.get("error")),
            error_tail=_text(document.get("error_tail")),
            changed_files=document.get("changed_files"),
            tests=TestSummary.from_json(tests) if isinstance(tests, dict) else None,
            stray_processes=int(document.get("stray_processes", 0)),
            restored_files=tuple(map(str, document.get("restored_files") or ())),
            pull_request=PullRequest(int(pull["number"]), str(pull["url"])) if pull else None,
        )
