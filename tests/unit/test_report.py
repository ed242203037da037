"""Report rows, counts, table and JSON; collect_runs over a real runs dir of SQLite stores."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from parallel_runs.core.model import AttemptResult, Outcome
from parallel_runs.report import (
    RunRow,
    build_rows,
    collect_runs,
    format_duration,
    render_json,
    render_table,
    summarize,
)
from parallel_runs.store import AttemptRecord, RunStore

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(
    run_id: str, attempt: int, status: Outcome, *, batch_id: str = "b1", seconds: float = 10
) -> AttemptRecord:
    """An attempt record; running attempts have no finish time."""
    finished = None if status is Outcome.RUNNING else T0 + timedelta(seconds=seconds)
    return AttemptRecord(
        run_id=run_id,
        slug=run_id,
        attempt=attempt,
        batch_id=batch_id,
        status=status,
        exit_code=None if finished is None else (0 if status is Outcome.SUCCEEDED else 1),
        started_at=T0,
        finished_at=finished,
        base_sha="a" * 40,
        head_sha=None,
        branch=f"parallel-runs/{run_id}",
        host="h",
        pid=1,
        error=None,
    )


def test_build_rows_keeps_the_latest_attempt_and_counts_attempts() -> None:
    rows = build_rows(
        [
            record("b", 1, Outcome.SUCCEEDED),
            record("a", 2, Outcome.SUCCEEDED, seconds=5),
            record("a", 1, Outcome.FAILED),
        ]
    )
    assert [(r.run_id, r.status, r.attempts, r.exit_code, r.duration_seconds) for r in rows] == [
        ("a", Outcome.SUCCEEDED, 2, 0, 5.0),
        ("b", Outcome.SUCCEEDED, 1, 0, 10.0),
    ]


def test_build_rows_filters_by_batch_before_choosing_the_latest() -> None:
    records = [record("a", 1, Outcome.FAILED, batch_id="b1"), record("a", 2, Outcome.RUNNING, batch_id="b2")]
    [row] = build_rows(records, batch_id="b1")
    assert (row.status, row.attempts, row.batch_id) == (Outcome.FAILED, 1, "b1")
    assert build_rows(records, batch_id="nope") == []


def test_summarize_counts_in_declaration_order() -> None:
    rows = build_rows(
        [record("x", 1, Outcome.FAILED), record("y", 1, Outcome.SUCCEEDED), record("z", 1, Outcome.FAILED)]
    )
    assert list(summarize(rows).items()) == [("succeeded", 1), ("failed", 2)]
    assert summarize([]) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0.0s"), (4.24, "4.2s"), (185, "3m 05s"), (3720, "1h 02m"), (90061, "25h 01m")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_render_json_round_trips() -> None:
    rows = build_rows([record("r1", 1, Outcome.SUCCEEDED), record("r2", 1, Outcome.RUNNING)])
    document = json.loads(render_json(rows))
    assert document["counts"] == {"running": 1, "succeeded": 1}
    first, second = document["runs"]
    assert first["run_id"] == "r1"
    assert first["status"] == "succeeded"
    assert datetime.fromisoformat(first["started_at"]) == T0
    assert datetime.fromisoformat(first["finished_at"]) == T0 + timedelta(seconds=10)
    assert first["duration_seconds"] == 10.0
    assert (second["finished_at"], second["duration_seconds"], second["exit_code"]) == (None, None, None)
    assert render_json(rows) == render_json(rows)
    assert json.loads(render_json([])) == {"runs": [], "counts": {}}


def test_render_table_shows_every_run_and_status() -> None:
    rows = build_rows(
        [
            record("exp-001", 1, Outcome.SUCCEEDED),
            record("exp-[bold]002", 1, Outcome.TIMED_OUT),
            record("exp-003", 3, Outcome.REGRESSED),
        ]
    )
    console = Console(record=True, width=120)
    console.print(render_table(rows))
    text = console.export_text()
    for row in rows:
        assert row.run_id in text
        assert row.status.value in text
    assert "3 runs: 1 succeeded, 1 regressed, 1 timed_out" in text


# --- collect_runs over real per-run stores ---


def write_store(runs_dir: Path, run_id: str, outcomes: list[Outcome], *, batch_id: str = "b1") -> None:
    """A per-run store at <runs_dir>/<slug>/<slug>.db with one attempt per outcome."""
    path = runs_dir / run_id / f"{run_id}.db"
    with RunStore.open(path) as store:
        for number, outcome in enumerate(outcomes, start=1):
            store.begin_attempt(
                run_id=run_id,
                slug=run_id,
                batch_id=batch_id,
                attempt=number,
                base_sha="a" * 40,
                branch=f"parallel-runs/{run_id}",
                host="h",
                pid=1,
                started_at=T0,
            )
            if outcome is not Outcome.RUNNING:
                store.finish_attempt(
                    AttemptResult(
                        run_id=run_id,
                        slug=run_id,
                        batch_id=batch_id,
                        attempt=number,
                        outcome=outcome,
                        exit_code=0 if outcome is Outcome.SUCCEEDED else 1,
                        started_at=T0,
                        finished_at=T0 + timedelta(seconds=number),
                        base_sha="a" * 40,
                        head_sha="c" * 40,
                        branch=f"parallel-runs/{run_id}",
                        host="h",
                        pid=1,
                    )
                )


def test_collect_runs_reads_every_store_and_skips_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs_dir = tmp_path / "runs"
    write_store(runs_dir, "run-c", [Outcome.RUNNING])
    write_store(runs_dir, "run-a", [Outcome.FAILED, Outcome.SUCCEEDED])
    write_store(runs_dir, "run-b", [Outcome.FAILED], batch_id="b2")
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "broken.db").write_bytes(b"not sqlite at all " * 100)
    # Stores anywhere but <slug>/<slug>.db are not the report's business.
    write_store(runs_dir / "workspaces", "x", [Outcome.SUCCEEDED])
    (runs_dir / ".locks").mkdir()
    (runs_dir / ".locks" / "run-a.lock").write_text("{}")
    (runs_dir / "run-a" / "run.log").write_text("output\n")
    (runs_dir / "stray").mkdir()
    (runs_dir / "stray" / "other.db").write_bytes(b"")

    with caplog.at_level(logging.WARNING, logger="parallel_runs.report"):
        rows = collect_runs(runs_dir)

    assert [(r.run_id, r.status, r.attempts, r.exit_code) for r in rows] == [
        ("run-a", Outcome.SUCCEEDED, 2, 0),
        ("run-b", Outcome.FAILED, 1, 1),
        ("run-c", Outcome.RUNNING, 1, None),
    ]
    assert rows[0] == RunRow(
        run_id="run-a",
        slug="run-a",
        batch_id="b1",
        status=Outcome.SUCCEEDED,
        attempts=2,
        exit_code=0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        duration_seconds=2.0,
        branch="parallel-runs/run-a",
        head_sha="c" * 40,
        error=None,
    )
    assert "broken.db" in caplog.text
    assert [r.run_id for r in collect_runs(runs_dir, batch_id="b2")] == ["run-b"]
    assert sorted(p.name for p in (runs_dir / "run-a").iterdir()) == ["run-a.db", "run.log"]


def test_collect_runs_on_a_missing_dir_is_empty(tmp_path: Path) -> None:
    assert collect_runs(tmp_path / "nothing-here") == []
