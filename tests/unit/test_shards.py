"""Splitting a batch over matrix legs: every id in exactly one shard, balanced, deterministic, small."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_runs.core.ids import split_run_ids
from parallel_runs.core.shards import (
    MAX_JOBS,
    Plan,
    Shard,
    leg_count,
    parse_max_jobs,
    parse_shard,
    shard_ids,
)
from parallel_runs.errors import ConfigError

ID_LISTS = st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=400)


@given(ids=ID_LISTS, count=st.integers(min_value=1, max_value=MAX_JOBS))
def test_every_id_is_in_exactly_one_shard_and_shards_are_balanced(ids: list[str], count: int) -> None:
    shards = [shard_ids(ids, Shard(k, count)) for k in range(1, count + 1)]
    seen = Counter(run_id for shard in shards for run_id in shard)
    assert set(seen) == set(ids)
    assert set(seen.values()) <= {1}
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    # Deterministic: another machine computing its share from the same ids gets the same one.
    assert shards == [shard_ids(list(ids), Shard(k, count)) for k in range(1, count + 1)]


@given(runs=st.integers(min_value=0, max_value=20_000), max_jobs=st.integers(min_value=1, max_value=MAX_JOBS))
def test_legs_are_capped_and_never_empty_of_work(runs: int, max_jobs: int) -> None:
    legs = leg_count(runs, max_jobs)
    assert 1 <= legs <= max_jobs
    assert legs <= max(runs, 1)  # a leg per run at most: no shard is empty when there are runs


def test_ten_thousand_ids_fit_256_legs_in_a_small_matrix() -> None:
    ids = split_run_ids("id-{00001..10000}")
    legs = leg_count(len(ids), parse_max_jobs("256"))
    plan = Plan(batch_id="b", run_count=len(ids), base_sha="a" * 40, legs=legs, shared=False)
    matrix = plan.outputs()["matrix"]
    assert legs == 256
    assert json.loads(matrix) == {"leg": list(range(1, 257))}
    assert len(matrix.encode()) < 16 * 1024
    owners = Counter(run_id for k in range(1, legs + 1) for run_id in shard_ids(ids, Shard(k, legs)))
    assert len(owners) == 10_000
    assert set(owners.values()) == {1}


def test_plan_outputs_name_everything_a_leg_needs() -> None:
    plan = Plan(batch_id="nightly", run_count=12, base_sha="c" * 40, legs=3, shared=True)
    assert plan.outputs() == {
        "matrix": '{"leg":[1,2,3]}',
        "batch-id": "nightly",
        "run-count": "12",
        "base-sha": "c" * 40,
        "legs": "3",
        "mode": "worker",
    }


@pytest.mark.parametrize(("text", "shard"), [("1/1", Shard(1, 1)), (" 3 / 16 ", Shard(3, 16))])
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "-1/2", "1/0", ""])
def test_a_bad_shard_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


@pytest.mark.parametrize("text", ["0", "257", "x", "-3"])
def test_max_jobs_is_one_to_256(text: str) -> None:
    with pytest.raises(ConfigError, match="--max-jobs"):
        parse_max_jobs(text)
