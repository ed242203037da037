"""Following an attempt's log costs each poll what it returns, on both stores (issue #21): a growing
log shows up piece by piece by offsets, a piece after the first reads its part where the previous one
said it begins (not the log from its start), and a stored log is fetched from the database once.

The records are written through the real `Store` of each location, the log is a real file, and what
is read is counted where it happens: the bytes the OS hands the runs dir's reader, the statements the
shared store's engine runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import event

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.core.runlog import format_header
from parallel_runs.dashboard.run_detail import LOG_CHUNK, LogPiece, log_piece
from parallel_runs.locks import hold_run
from parallel_runs.store import LocalStore, Records, RunLog, SharedStore, Store, open_records
from parallel_runs.store.protocol import Claim
from tests.integration.postgres.helpers import FAST_RECONNECTS
from tests.integration.postgres.test_records import ME, T0, attempt_of, new_batch

BIG = 4 * 1024 * 1024  # attempt 1's output: what a reader that starts from the top reads through
HEADER = format_header(2, T0, "agent")


class CountingFile(io.FileIO):
    """A file that counts the bytes the OS hands it."""

    read_bytes = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = super().readinto(buffer) or 0
        CountingFile.read_bytes += count
        return count


class CountingRecords:
    """A runs dir's Records whose run.log is read through a CountingFile."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def run_log(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> RunLog:
        log = self.records.run_log(run_id, batch_id=batch_id, attempt=attempt)
        name = log.stream.name  # type: ignore[attr-defined]
        log.stream.close()
        return replace(log, stream=io.BufferedReader(CountingFile(name)))


@dataclass
class Retried:
    """A run whose attempt 1 wrote BIG bytes and failed, and whose attempt 2 runs (its locks held)."""

    store: Store
    batch: BatchDefinition
    claim: Claim
    paths: RunPaths
    held: ExitStack  # attempt 2's locks
    log_from: int  # where attempt 2's part of run.log begins

    def follow(self, records: object, *, offset: int = 0, start: int | None = None) -> LogPiece:
        """The piece of attempt 2's output the log endpoint would give."""
        return log_piece(
            records,  # type: ignore[arg-type]
            run_id=self.claim.run_id,
            batch_id=self.claim.batch_id,
            attempt=2,
            offset=offset,
            start=start,
        )

    def write(self, text: str) -> None:
        with self.paths.run_log.open("a", encoding="utf-8") as log:
            log.write(text)

    def end(self) -> None:
        """Attempt 2 ends: its locks are let go, its files kept, its outcome written."""
        self.held.close()
        self.paths.result_json.write_text('{"attempt": 2}\n', encoding="utf-8")
        self.store.keep_artifacts(self.claim, self.paths.artifacts, log_from=self.log_from)
        self.store.finish_attempt(self.claim, attempt_of(self.claim.run_id, self.batch, 2, Outcome.SUCCEEDED))


def retried(store: Store, runs_dir: Path) -> Retried:
    batch = new_batch(1)
    store.enqueue(batch)
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=60)
    assert claim is not None
    paths = RunPaths(runs_dir, claim.slug)
    paths.artifacts.mkdir(parents=True, exist_ok=True)
    claim = store.begin_attempt(claim, at_least=1, started_at=T0, host="h")
    with paths.run_log.open("w", encoding="utf-8") as log:
        log.write(format_header(1, T0, "agent"))
        log.write(("x" * 1023 + "\n") * (BIG // 1024))
    store.finish_attempt(claim, attempt_of(claim.run_id, batch, 1, Outcome.FAILED))
    again = store.retry(claim)
    assert again is not None
    claim = store.begin_attempt(again, at_least=2, started_at=T0, host="h")
    held = ExitStack()
    held.enter_context(hold_run(paths))
    found = Retried(store, batch, claim, paths, held, log_from=paths.run_log.stat().st_size)
    found.write(HEADER + "line 1\n")
    return found


@pytest.fixture
def runs_dir_run(tmp_path: Path) -> Iterator[Retried]:
    run = retried(LocalStore(tmp_path / "runs"), tmp_path / "runs")
    yield run
    run.held.close()


@pytest.fixture
def shared_run(tmp_path: Path, database_url: str) -> Iterator[tuple[Retried, str]]:
    store = SharedStore.connect(database_url, spool_dir=tmp_path / "spool", reconnect_policy=FAST_RECONNECTS)
    try:
        run = retried(store, tmp_path / "runs")
        yield run, database_url
        run.held.close()
    finally:
        store.close()


def test_a_growing_log_shows_up_piece_by_piece_and_each_poll_reads_only_its_piece(
    runs_dir_run: Retried,
) -> None:
    run = runs_dir_run
    with open_records(run.paths.runs_dir) as plain:
        records = CountingRecords(plain)
        CountingFile.read_bytes = 0
        first = run.follow(records)
        assert (first.text, first.over) == (HEADER + "line 1\n", False)
        assert CountingFile.read_bytes > BIG  # the first finds the part: it reads the log through
        run.write("line 2\nhalf a li")  # the last line is still being written
        pieces = [first]
        for more in ("ne\n", "<script>alert(1)</script>\n"):
            CountingFile.read_bytes = 0
            pieces.append(run.follow(records, offset=pieces[-1].offset, start=first.start))
            assert CountingFile.read_bytes < 2 * LOG_CHUNK  # from the cursor: not the 4 MB above it
            run.write(more)
        assert [piece.text for piece in pieces[1:]] == ["line 2\n", "half a line\n"]
        assert all(piece.start == first.start and not piece.over for piece in pieces)
        run.end()
        last = run.follow(records, offset=pieces[-1].offset, start=first.start)
    assert (last.text, last.over) == ("<script>alert(1)</script>\n", True)  # the page adds it as text


def test_a_cursor_that_is_not_the_parts_header_is_not_trusted(runs_dir_run: Retried) -> None:
    run = runs_dir_run
    with open_records(run.paths.runs_dir) as records:
        found = run.follow(records)
        assert found.start is not None
        for wrong in (0, 1, found.start - 1, found.start + 3, 10**12):
            again = run.follow(records, start=wrong)
            assert (again.text, again.start) == (found.text, found.start)


def test_a_stored_log_is_fetched_once_however_many_pieces_it_is_read_in(
    shared_run: tuple[Retried, str],
) -> None:
    run, url = shared_run
    run.write("".join(f"{n:07d} " + "y" * 1000 + "\n" for n in range(1024)))  # 1 MB: four pieces
    with open_records(url) as records:
        running = run.follow(records)
        assert "its run.log is stored when it ends" in (running.note or "")
        assert not running.over
        run.end()
        fetched: list[str] = []
        engine = records.store._engine  # type: ignore[attr-defined]

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            if "artifact_blobs" in statement:
                fetched.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        pieces = [run.follow(records)]
        while not pieces[-1].over and len(pieces) < 20:
            pieces.append(run.follow(records, offset=pieces[-1].offset, start=pieces[-1].start))
        event.remove(engine, "before_cursor_execute", count)
    assert len(pieces) >= 4
    assert len(fetched) == 1
    text = "".join(piece.text for piece in pieces)
    assert text.startswith(HEADER + "line 1\n0000000 ")
    assert text.endswith("0001023 " + "y" * 1000 + "\n")
