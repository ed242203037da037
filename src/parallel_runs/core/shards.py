"""Splitting a batch over the legs of a GitHub matrix (CONTRACTS §6 `plan`). Pure.

The matrix carries only leg numbers, `{"leg": [1, ..., n]}`, so it stays a few KB for any number
of ids (GitHub caps an output at 1 MiB and a matrix at 256 jobs). Without a shared store each leg
recomputes its share from the same ids with `run --shard K/N`; with one, every leg is a `worker`
that claims runs until none remain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from parallel_runs.core.defaults import DEFAULT_MAX_JOBS, MAX_JOBS
from parallel_runs.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_JOBS",
    "MAX_JOBS",
    "Plan",
    "Shard",
    "leg_count",
    "parse_max_jobs",
    "parse_shard",
    "shard_ids",
]

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Shard:
    """Leg `index` of `count` (both from 1): `run --shard K/N`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"shard {self.index}/{self.count}: K must be between 1 and N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`K/N` (e.g. `2/16`) as a Shard; ConfigError naming the rule otherwise."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ConfigError(f"--shard {text!r}: write it as K/N, e.g. 2/16")
    return Shard(int(match[1]), int(match[2]))


def shard_ids(ids: Sequence[str], shard: Shard) -> list[str]:
    """The ids of one shard: every N-th id from the K-th, so each id is in exactly one shard and
    shard sizes differ by at most one. Deterministic: the same ids in the same order give the same
    shards on every machine."""
    return list(ids[shard.index - 1 :: shard.count])


def parse_max_jobs(text: str) -> int:
    """--max-jobs: 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--max-jobs {text!r} is not a whole number") from None
    if not 1 <= value <= MAX_JOBS:
        raise ConfigError(f"--max-jobs must be between 1 and {MAX_JOBS} (GitHub's matrix cap), got {value}")
    return value


def leg_count(runs: int, max_jobs: int) -> int:
    """Legs for `runs` runs: one per run up to `max_jobs`, and at least one (GitHub refuses an empty
    matrix; a leg with nothing to do finishes at once)."""
    return max(1, min(max_jobs, runs))


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What `plan` decided: the legs of the matrix and what every leg must agree on."""

    batch_id: str
    run_count: int  # runs in the batch
    base_sha: str  # the commit every leg runs from
    legs: int
    shared: bool  # legs are `worker`s of a batch queued in the shared store (else fixed shards)

    @property
    def matrix(self) -> dict[str, list[int]]:
        """The `strategy.matrix` of the run jobs: leg numbers only."""
        return {"leg": list(range(1, self.legs + 1))}

    def outputs(self) -> dict[str, str]:
        """The step outputs `plan` writes (and prints), by name."""
        return {
            "matrix": json.dumps(self.matrix, separators=(",", ":")),
            "batch-id": self.batch_id,
            "run-count": str(self.run_count),
            "base-sha": self.base_sha,
            "legs": str(self.legs),
            "mode": "worker" if self.shared else "shard",
        }
