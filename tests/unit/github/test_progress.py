"""A run's output in its own log group, where it cannot issue workflow commands."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parallel_runs.core.events import Event, EventKind
from parallel_runs.github import progress
from parallel_runs.github.progress import GroupedProgress

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Inner:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


def finish(grouped: GroupedProgress, run_id: str, log: Path) -> None:
    grouped(Event(EventKind.ATTEMPT_STARTED, AT, run_id, {"attempt": 1, "log": str(log)}))
    grouped(
        Event(
            EventKind.ATTEMPT_FINISHED,
            AT,
            run_id,
            {"status": "failed", "attempt": 1, "exit_code": 2, "duration_seconds": 3.2, "slug": run_id},
        )
    )


def test_each_finished_run_is_one_group_and_its_output_issues_no_command(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("hello\n::endgroup::\n::error::forged\nno newline at the end \u00e9")
    out, inner = io.StringIO(), Inner()
    grouped = GroupedProgress(inner, runs_dir=tmp_path, out=out)
    finish(grouped, "exp-1", log)
    grouped.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "::group::exp-1 \u00b7 failed \u00b7 attempt 1 \u00b7 exit 2 \u00b7 3.2s"
    token = lines[1].removeprefix("::stop-commands::")
    assert lines[2:-2] == ["hello", "::endgroup::", "::error::forged", "no newline at the end \u00e9"]
    assert lines[-2:] == [f"::{token}::", "::endgroup::"]
    assert [event.kind for event in inner.events] == [EventKind.ATTEMPT_STARTED, EventKind.ATTEMPT_FINISHED]
    assert inner.closed


def test_a_huge_log_shows_its_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"a" * 5000 + b"\nthe end\n")
    monkeypatch.setattr(progress, "LOG_LIMIT", 100)
    out = io.StringIO()
    finish(GroupedProgress(Inner(), runs_dir=tmp_path, out=out), "big", log)
    text = out.getvalue()
    assert "[parallel-runs: the first 4909 bytes are left out; run.log has them all]" in text
    assert text.count("a") < 200
    assert "the end\n" in text


def test_a_missing_log_is_said_not_fatal(tmp_path: Path) -> None:
    out = io.StringIO()
    finish(GroupedProgress(Inner(), runs_dir=tmp_path, out=out), "gone", tmp_path / "nothing.log")
    assert "[parallel-runs: no log to show:" in out.getvalue()


@pytest.mark.parametrize("started", [True, False], ids=["from-its-start-event", "ended-before-it-started"])
def test_an_attempts_group_shows_that_attempts_output_only(tmp_path: Path, started: bool) -> None:
    log = tmp_path / "retried" / "run.log"
    log.parent.mkdir()
    first = (
        "=== parallel-runs: attempt 1 \u00b7 started 2026-01-01T00:00:00+00:00 \u00b7 x ===\noutput of one\n"
    )
    second = (
        "=== parallel-runs: attempt 2 \u00b7 started 2026-01-01T00:01:00+00:00 \u00b7 x ===\noutput of two\n"
    )
    log.write_text(first + second)
    out = io.StringIO()
    grouped = GroupedProgress(Inner(), runs_dir=tmp_path, out=out)
    if started:
        where = {"attempt": 2, "log": str(log), "log_from": len(first.encode())}
        grouped(Event(EventKind.ATTEMPT_STARTED, AT, "retried", where))
    grouped(
        Event(
            EventKind.ATTEMPT_FINISHED, AT, "retried", {"status": "failed", "attempt": 2, "slug": "retried"}
        )
    )
    text = out.getvalue()
    assert "output of two" in text
    assert "output of one" not in text
