"""The exception hierarchy: one base, an exit code on each error, the nearest built-in where one fits."""

from __future__ import annotations

import pytest

from parallel_runs.core.ids import validate_run_id
from parallel_runs.errors import (
    EXIT_HELD,
    EXIT_USAGE,
    AlreadyHeldError,
    ConfigError,
    InvalidRunIdError,
    ParallelRunsError,
    UsageError,
)
from parallel_runs.holders import Holder


@pytest.mark.parametrize("bad", ["", "a\nb", "...", "x" * 129])
def test_an_invalid_run_id_is_a_value_error_for_library_callers(bad: str) -> None:
    with pytest.raises(ValueError, match="run id") as caught:
        validate_run_id(bad)
    assert isinstance(caught.value, InvalidRunIdError)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.exit_code == EXIT_USAGE


def test_a_usage_error_is_ours_with_exit_2_but_not_a_config_error() -> None:
    error = UsageError("parallel-runs run: argument --workers: expected one argument")
    assert isinstance(error, ParallelRunsError)
    assert not isinstance(error, ConfigError)
    assert error.exit_code == EXIT_USAGE


def test_already_held_names_its_holder() -> None:
    holder = Holder(host="h1", pid=42, started_at="2024-01-01T00:00Z", attempt=3)
    error = AlreadyHeldError("run 'a'", holder)
    assert error.exit_code == EXIT_HELD
    assert str(error) == "run 'a' is already held by host h1, pid 42, since 2024-01-01T00:00Z, attempt 3"
    assert str(AlreadyHeldError("run 'a'", None)) == "run 'a' is already held by an unknown holder"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, None),
        ({"host": "h", "pid": "1", "started_at": "t"}, None),  # a pid must be a number
        ({"host": "h", "pid": True, "started_at": "t"}, None),  # ... and not a bool
        ({"host": "h", "pid": 1, "started_at": "t", "attempt": "2"}, Holder("h", 1, "t")),
        ({"host": "h", "pid": 1, "started_at": "t", "attempt": 2}, Holder("h", 1, "t", 2)),
    ],
)
def test_holder_from_an_owner_record(record: dict[str, object] | None, expected: Holder | None) -> None:
    assert Holder.from_record(record) == expected
