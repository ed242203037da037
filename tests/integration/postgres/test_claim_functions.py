"""The claim path's statements are PL/pgSQL functions (migration 0006), so that a server session plans
them once (P6): what a claim and a result send, and that the functions keep a generic plan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event, text

from parallel_runs.store import BatchDefinition, SharedStore
from tests.integration.postgres.helpers import result_for
from tests.integration.postgres.test_grouped_writes import ME

FUNCTIONS = {
    "parallel_runs_claim",
    "parallel_runs_next_runs",
    "parallel_runs_take_claims",
    "parallel_runs_finish_claims",
}


@contextmanager
def sent(store: SharedStore) -> Iterator[list[str]]:
    """The statements the store sends while the block runs (BEGIN and COMMIT are not statements here)."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(store._engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store._engine, "before_cursor_execute", record)


def test_a_claim_and_its_result_are_two_function_calls(
    store: SharedStore, make_batch: Callable[..., BatchDefinition]
) -> None:
    batch = make_batch(2)
    with sent(store) as statements:
        claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
        assert claim is not None
        store.finish_attempt(claim, result_for(claim))
    called = [statement.split("(")[0].removeprefix("SELECT * FROM ") for statement in statements]
    assert called == ["parallel_runs_claim", "parallel_runs_finish_claims"]
    [run] = [run for run in store.batch_runs(batch.batch_id) if run.run_id == claim.run_id]
    assert (run.state, run.attempt) == ("finished", claim.attempt)


def test_the_functions_keep_one_generic_plan_whatever_their_arguments(store: SharedStore) -> None:
    # A custom plan is made afresh at every call: planning was most of what the server spent on a run.
    with store._engine.connect() as conn:
        settings = dict(
            conn.execute(
                text("SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'parallel\\_runs\\_%'")
            ).all()
        )
    assert set(settings) == FUNCTIONS
    assert all(config == ["plan_cache_mode=force_generic_plan"] for config in settings.values())
