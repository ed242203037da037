"""Per-run SQLite stores shared by processes: readers and writers at once, on a fresh file too."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from parallel_runs.core.model import Outcome
from parallel_runs.store import RunStore
from tests.integration.test_store import begin, result


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where a run's store lives, under a directory that does not exist yet."""
    return tmp_path / "runs" / "exp-1" / "exp-1.db"


ROUNDS = 60


def _writer(path: str, barrier: Any, first_attempt: int) -> None:
    barrier.wait(timeout=60)
    with RunStore.open(Path(path)) as store:
        for n in range(first_attempt, first_attempt + ROUNDS):
            begin(store, attempt=n, pid=n)
            store.finish_attempt(result(attempt=n, pid=n))


def _reader(path: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    seen = 0
    with RunStore.open(Path(path)) as store:
        for _ in range(ROUNDS * 3):
            records = store.attempts("exp-1")
            assert len(records) >= seen
            seen = len(records)
            store.last_attempt_number("exp-1")


def _run_together(*targets: tuple[Any, tuple[Any, ...]]) -> list[int | None]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(targets))
    processes = [ctx.Process(target=fn, args=(*args, barrier)) for fn, args in targets]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    return [process.exitcode for process in processes]


def _writer_with_barrier_last(path: str, first_attempt: int, barrier: Any) -> None:
    _writer(path, barrier, first_attempt)


def _reader_with_barrier_last(path: str, barrier: Any) -> None:
    _reader(path, barrier)


def test_a_reader_process_and_a_writer_process_do_not_error(db: Path) -> None:
    with RunStore.open(db) as store:
        begin(store, attempt=0)  # the reader opens an existing store
    codes = _run_together(
        (_writer_with_barrier_last, (str(db), 1)),
        (_reader_with_barrier_last, (str(db),)),
    )
    assert codes == [0, 0]
    with RunStore.open(db) as store:
        assert store.last_attempt_number("exp-1") == ROUNDS
        assert all(r.outcome is Outcome.SUCCEEDED for r in store.attempts()[1:])
    assert sorted(p.name for p in db.parent.iterdir()) == ["exp-1.db"]


def test_two_writer_processes_on_a_fresh_store_do_not_error(db: Path) -> None:
    codes = _run_together(
        (_writer_with_barrier_last, (str(db), 1)),
        (_writer_with_barrier_last, (str(db), 1001)),
    )
    assert codes == [0, 0]
    with RunStore.open(db) as store:
        assert len(store.attempts()) == 2 * ROUNDS


# The columns each earlier schema version lacked.
