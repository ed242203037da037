"""A batch option added after revision 0003 needs no schema change (batches.options, revision 0004),
and a worker refuses a batch that uses an option its version does not know."""

from __future__ import annotations

import secrets
from dataclasses import field, fields, make_dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from parallel_runs.core.command import CommandSpec
from parallel_runs.errors import ConfigError
from parallel_runs.store import BatchDefinition, SharedStore
from parallel_runs.store import batches as batches_module
from parallel_runs.store.urls import parse_postgres_url


def _new_batch(**overrides: object) -> BatchDefinition:
    tag = secrets.token_hex(4)
    values = {"batch_id": f"opt-{tag}", "run_ids": (f"opt-{tag}-1",), "command": CommandSpec(argv=("true",))}
    return BatchDefinition(**(values | {"base_sha": "a" * 40} | overrides))  # type: ignore[arg-type]


def test_every_field_of_today_has_a_column_and_nothing_goes_to_options() -> None:
    assert {f.name for f in fields(BatchDefinition)} == batches_module._COLUMNS
    assert batches_module._options(_new_batch()) is None


def test_a_field_added_later_round_trips_without_a_migration(
    store: SharedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a later version's definition is: one more field, with no column for it.
    later = make_dataclass(
        "LaterDefinition",
        [
            ("keep_going_after", tuple[str, ...], field(default=())),
            ("max_cost", float | None, field(default=None)),
        ],
        bases=(BatchDefinition,),
        frozen=True,
        kw_only=True,
    )
    monkeypatch.setattr(batches_module, "BatchDefinition", later)
    asked = later(**vars_of(_new_batch()), keep_going_after=("lint", "docs"), max_cost=2.5)
    created = store.create_batch(asked)
    again = store.get_batch(asked.batch_id)
    assert again is not None
    assert (again.keep_going_after, again.max_cost) == (("lint", "docs"), 2.5)  # type: ignore[attr-defined]
    assert store.create_batch(asked) == created  # the same batch again: no "different definition"


def test_a_batch_with_an_option_this_version_does_not_know_is_refused_naming_it(
    store: SharedStore, database_url: str
) -> None:
    batch = store.create_batch(_new_batch())
    engine = create_engine(parse_postgres_url(database_url), poolclass=NullPool)
    with engine.begin() as conn:  # what a newer version wrote
        conn.execute(
            text("update batches set options = '{\"max_cost\": 2.5}' where batch_id = :b"),
            {"b": batch.batch_id},
        )
    engine.dispose()
    with pytest.raises(
        ConfigError, match=r"uses options this version of parallel-runs does not know \(max_cost\)"
    ):
        store.get_batch(batch.batch_id)


def vars_of(definition: BatchDefinition) -> dict[str, object]:
    return {f.name: getattr(definition, f.name) for f in fields(definition)}
