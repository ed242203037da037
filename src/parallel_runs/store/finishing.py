"""Recording attempts' final results under their claims (fenced by token); a group's in one statement.

The results that a process's worker threads record at once share one statement per batch (P6): each
finishes its run's lease if its token is still current (an abandoned attempt sends the run back to
the queue under a new token) and records the attempt's result. Doing it again is harmless: a result
the attempt already holds is recorded, not refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection

from parallel_runs.core.model import Attempt
from parallel_runs.errors import LeaseLostError, StoreError
from parallel_runs.store.leases import ATTEMPTS, TOKEN_FENCED, lease_lost, lease_params
from parallel_runs.store.models import UTCDateTime
from parallel_runs.store.protocol import Claim

__all__ = ["Finish", "finish_claims"]


@dataclass(frozen=True, slots=True)
class Finish:
    """An attempt's final result, to record under the claim it ran under."""

    claim: Claim
    result: Attempt


# Each lease whose token is still current is finished (token only, not state: finishing twice under
# one claim is harmless), then its attempt is recorded; each lease finished says whether its attempt
# had a row to record into. A PL/pgSQL function (migration 0006), planned once a session; its
# arguments are the results as arrays, one element a result.
_FINISH_ALL = text(
    "SELECT * FROM parallel_runs_finish_claims(:p_batch, CAST(:p_runs AS text[]),"
    " CAST(:p_tokens AS bigint[]), CAST(:p_attempts AS integer[]), CAST(:p_statuses AS text[]),"
    " CAST(:p_exit_codes AS integer[]), CAST(:p_started AS timestamptz[]),"
    " CAST(:p_finished AS timestamptz[]), CAST(:p_head_shas AS text[]), CAST(:p_errors AS text[]),"
    " CAST(:p_error_tails AS text[]),"
    " CAST(:p_changed AS integer[]), CAST(:p_tests AS json[]), :p_token_fenced)"
)

# The attempt already holds this very result: the call is done again after its commit (a retried
# transaction whose acknowledgement was lost, a spool entry replayed twice), not a stale holder's.
_ALREADY_RECORDED = select(ATTEMPTS.c.id).where(
    ATTEMPTS.c.run_id == bindparam("p_run"),
    ATTEMPTS.c.attempt == bindparam("p_attempt"),
    ATTEMPTS.c.batch_id == bindparam("p_batch"),
    ATTEMPTS.c.status == bindparam("p_status"),
    ATTEMPTS.c.exit_code.is_not_distinct_from(bindparam("p_exit_code")),
    ATTEMPTS.c.finished_at.is_not_distinct_from(bindparam("p_finished_at", type_=UTCDateTime())),
    ATTEMPTS.c.head_sha.is_not_distinct_from(bindparam("p_head_sha")),
    ATTEMPTS.c.error.is_not_distinct_from(bindparam("p_error")),
)
_AWARE = UTCDateTime()  # refuses a naive datetime, as every other write of a time does


def finish_claims(conn: Connection, finishes: Sequence[Finish]) -> list[LeaseLostError | None]:
    """Record each attempt's final result and finish its run if its claim is current; one statement
    for a batch's results. Each result's outcome: None (recorded now or before), or the lost lease its
    caller raises. StoreError if a current claim's attempt has no row: the caller's transaction must
    fail, for the lease was finished by then."""
    for finish in finishes:
        claim, result = finish.claim, finish.result
        if (result.batch_id, result.run_id, result.attempt) != (claim.batch_id, claim.run_id, claim.attempt):
            raise ValueError(
                f"result of {result.batch_id}/{result.run_id} attempt {result.attempt} does not belong to "
                f"the claim on {claim.batch_id}/{claim.run_id} attempt {claim.attempt}"
            )
    outcomes: list[LeaseLostError | None] = [None] * len(finishes)
    for numbers in _statements(finishes):
        batch_id = finishes[numbers[0]].claim.batch_id
        params = _arrays(conn, batch_id, [finishes[n] for n in numbers])
        finished = {row.run_id: row.recorded for row in conn.execute(_FINISH_ALL, params)}
        for n in numbers:
            claim = finishes[n].claim
            if finished.get(claim.run_id) is False:  # the lease is current: its attempt's row is missing
                raise StoreError(f"attempt {claim.attempt} of run {claim.run_id!r} has no record to finish")
            if claim.run_id not in finished:
                outcomes[n] = _refused(conn, finishes[n])
    return outcomes


def _statements(finishes: Sequence[Finish]) -> list[list[int]]:
    """The results (numbered) that each statement records: one batch's, each run at most once."""
    statements: list[list[int]] = []
    open_ones: dict[str, tuple[list[int], set[str]]] = {}
    for n, finish in enumerate(finishes):
        batch_id, run_id = finish.claim.batch_id, finish.claim.run_id
        current = open_ones.get(batch_id)
        if current is None or run_id in current[1]:  # a run twice (a result replayed): the next statement
            current = open_ones[batch_id] = ([], set())
            statements.append(current[0])
        current[0].append(n)
        current[1].add(run_id)
    return statements


def _arrays(conn: Connection, batch_id: str, finishes: list[Finish]) -> dict[str, Any]:
    """The statement's parameters: the batch, and each result's fields as arrays."""

    def aware(value: datetime | None) -> datetime | None:
        return _AWARE.process_bind_param(value, conn.dialect)

    results = [finish.result for finish in finishes]
    return {
        "p_batch": batch_id,
        "p_token_fenced": TOKEN_FENCED,
        "p_runs": [finish.claim.run_id for finish in finishes],
        "p_tokens": [finish.claim.fencing_token for finish in finishes],
        "p_attempts": [finish.claim.attempt for finish in finishes],
        "p_statuses": [result.outcome.value for result in results],
        "p_exit_codes": [result.exit_code for result in results],
        "p_started": [aware(result.started_at) for result in results],
        "p_finished": [aware(result.finished_at) for result in results],
        "p_head_shas": [result.head_sha for result in results],
        "p_errors": [_text(result.error) for result in results],
        "p_error_tails": [_text(result.error_tail) for result in results],
        "p_changed": [result.changed_files for result in results],
        "p_tests": [json.dumps(result.tests.to_json()) if result.tests else None for result in results],
    }


def _refused(conn: Connection, finish: Finish) -> LeaseLostError | None:
    """Why a result was not recorded: None if the attempt holds it already, else the lease is lost."""
    claim, result = finish.claim, finish.result
    params = lease_params(claim) | {
        "p_status": result.outcome.value,
        "p_exit_code": result.exit_code,
        "p_finished_at": result.finished_at,
        "p_head_sha": result.head_sha,
        "p_error": _text(result.error),
    }
    if conn.execute(_ALREADY_RECORDED, params).first() is not None:
        return None
    return lease_lost(conn, claim, doing="record its result")


def _text(value: str | None) -> str | None:
    """PostgreSQL's text cannot hold NUL, and a run's output may: shown as an undecodable byte is."""
    return None if value is None else value.replace("\0", "\ufffd")
