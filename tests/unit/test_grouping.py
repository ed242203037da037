"""store.grouping.Grouped: calls asked while a group is in flight go together as the next group."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from parallel_runs.errors import StoreError
from parallel_runs.store.grouping import Grouped
from tests.helpers import wait_for


class _Groups:
    """A run_group that records its groups; the first waits for `release`; items 'bad' fail alone,
    and a group holding 'down' fails as a whole."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, items: Sequence[str]) -> list[str | BaseException]:
        if not self.groups:
            assert self.release.wait(60)
        self.groups.append(list(items))
        if "down" in items:
            raise StoreError("the database is down")
        return [StoreError(f"{item} refused") if item == "bad" else item.upper() for item in items]


def _ask(grouped: Grouped[str, str], items: list[str], groups: _Groups) -> list[object]:
    """Ask the first item, then the others while it is in flight; each one's result or error."""
    outcomes: list[object] = [None] * len(items)

    def ask(n: int) -> None:
        try:
            outcomes[n] = grouped(items[n])
        except StoreError as exc:
            outcomes[n] = str(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(items))]
    threads[0].start()
    wait_for(lambda: grouped._in_flight, timeout=60, what="the first group in flight")
    for thread in threads[1:]:
        thread.start()
    wait_for(lambda: len(grouped._waiting) == len(items) - 1, timeout=60, what="the others queued")
    groups.release.set()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_calls_asked_meanwhile_are_one_group_and_each_gets_its_own_result() -> None:
    groups = _Groups()
    grouped = Grouped(groups)
    assert _ask(grouped, ["a", "b", "bad", "c"], groups) == ["A", "B", "bad refused", "C"]
    assert groups.groups[0] == ["a"]
    assert sorted(groups.groups[1]) == ["b", "bad", "c"]
    assert grouped("d") == "D"  # alone again: a group of one, at once
    assert groups.groups[-1] == ["d"]


def test_a_group_that_fails_as_a_whole_fails_every_caller_in_it_and_no_other() -> None:
    groups = _Groups()
    grouped = Grouped(groups)
    assert _ask(grouped, ["a", "b", "down"], groups) == ["A", "the database is down", "the database is down"]
    assert grouped("e") == "E"


def test_an_error_escaping_a_group_does_not_leave_it_in_flight() -> None:
    def broken(items: Sequence[str]) -> list[str | BaseException]:
        raise RuntimeError("bug")

    grouped = Grouped(broken)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="bug"):
            grouped("x")
