"""Report rows and counts; rows of a real runs dir of SQLite stores (`store.open_records`)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.report import RunRow, build_rows, format_title, summarize
from parallel_runs.report.markdown import render_markdown
from parallel_runs.report.rows import format_duration, visible_columns
from parallel_runs.store import RunStore, open_records
from tests.unit.report.attempts import T0, record


def test_build_rows_keeps_the_latest_attempt_and_counts_attempts() -> None:
    rows = build_rows(
        [
            record("b", 1, Outcome.SUCCEEDED),
            record("a", 2, Outcome.SUCCEEDED, seconds=5),
            record("a", 1, Outcome.FAILED),
        ]
    )
    assert [
        (r.latest.run_id, r.latest.outcome, r.attempts, r.latest.exit_code, r.latest.duration_seconds)
        for r in rows
    ] == [
        ("a", Outcome.SUCCEEDED, 2, 0, 5.0),
        ("b", Outcome.SUCCEEDED, 1, 0, 10.0),
    ]


def test_build_rows_filters_by_batch_before_choosing_the_latest() -> None:
    records = [record("a", 1, Outcome.FAILED, batch_id="b1"), record("a", 2, Outcome.RUNNING, batch_id="b2")]
    [row] = build_rows(records, batch_id="b1")
    assert (row.latest.outcome, row.attempts, row.latest.batch_id) == (Outcome.FAILED, 1, "b1")
    assert build_rows(records, batch_id="nope") == []


def test_summarize_counts_in_declaration_order() -> None:
    rows = build_rows(
        [record("x", 1, Outcome.FAILED), record("y", 1, Outcome.SUCCEEDED), record("z", 1, Outcome.FAILED)]
    )
    assert list(summarize(rows).items()) == [("succeeded", 1), ("failed", 2)]
    assert summarize([]) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (4.24, "4.2s"),
        (185, "3m05s"),
        (3720, "1h02m"),
        (90061, "25h01m"),
        (59.96, "1m00s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_title_names_the_batch() -> None:
    assert format_title() == "parallel-runs"
    assert format_title("b1") == "parallel-runs \u00b7 batch b1"


# --- rows of real per-run stores ---


def collect_runs(runs_dir: Path, *, batch_id: str | None = None) -> list[RunRow]:
    """What `report` shows of a runs dir: its records read back, one row per run."""
    with open_records(runs_dir) as records:
        return build_rows(records.attempts(batch_id), batch_id=batch_id)


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
                    Attempt(
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

    with caplog.at_level(logging.WARNING, logger="parallel_runs.store.local_records"):
        rows = collect_runs(runs_dir)

    assert [(r.latest.run_id, r.latest.outcome, r.attempts, r.latest.exit_code) for r in rows] == [
        ("run-a", Outcome.SUCCEEDED, 2, 0),
        ("run-b", Outcome.FAILED, 1, 1),
        ("run-c", Outcome.RUNNING, 1, None),
    ]
    assert rows[0] == RunRow(
        Attempt(
            run_id="run-a",
            slug="run-a",
            batch_id="b1",
            attempt=2,
            outcome=Outcome.SUCCEEDED,
            exit_code=0,
            started_at=T0,
            finished_at=T0 + timedelta(seconds=2),
            base_sha="a" * 40,
            head_sha="c" * 40,
            branch="parallel-runs/run-a",
            host="h",
            pid=1,
        ),
        attempts=2,
    )
    assert rows[0].latest.duration_seconds == 2.0
    assert "broken.db" in caplog.text
    assert [r.latest.run_id for r in collect_runs(runs_dir, batch_id="b2")] == ["run-b"]
    assert sorted(p.name for p in (runs_dir / "run-a").iterdir()) == ["run-a.db", "run.log"]


def test_collect_runs_on_a_missing_dir_is_empty(tmp_path: Path) -> None:
    assert collect_runs(tmp_path / "nothing-here") == []


def test_the_host_column_shows_when_runs_ran_on_more_than_one_machine() -> None:
    here = [record("a", 1, Outcome.SUCCEEDED), record("b", 1, Outcome.SUCCEEDED)]
    assert "host" not in [column.header for column in visible_columns(build_rows(here))]
    elsewhere = dataclasses.replace(record("c", 1, Outcome.FAILED), host="runner-2")
    shared = build_rows([*here, elsewhere])
    assert "host" in [column.header for column in visible_columns(shared)]
    assert "runner-2" in render_markdown(shared)
