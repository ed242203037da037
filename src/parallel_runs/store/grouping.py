"""Group commit: the same store call made by several threads at once is done in one transaction.

A process's worker threads share two connections (P8), and every transaction pays a commit (a WAL
flush). When a thread asks while its call is already being done for others, it waits, and the calls
that gathered meanwhile go together in the next transaction: one commit for all of them, and no
thread waits behind more than the group in flight. Alone, a call is its own group: nothing changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Grouped"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Call(Generic[Item, Result]):
    """One thread's call: its item, then its result or its error."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.taken = self.done = False


class Grouped(Generic[Item, Result]):
    """Calls gathered while `limit` groups are in flight run together as the next group, done by the
    thread that finds room first.

    `run_group(items)` does every item in one transaction and returns, in order, each item's result
    or the exception its caller is to raise; an exception it raises is every caller's.
    """

    def __init__(
        self, run_group: Callable[[Sequence[Item]], Sequence[Result | BaseException]], *, limit: int = 1
    ) -> None:
        self._run_group = run_group
        self._limit = limit
        self._changed = threading.Condition()
        self._waiting: list[_Call[Item, Result]] = []
        self._in_flight = 0

    def __call__(self, item: Item) -> Result:
        call, group = _Call[Item, Result](item), None
        with self._changed:
            self._waiting.append(call)
            while not call.taken and self._in_flight >= self._limit:
                self._changed.wait()
            if not call.taken:  # room for a group: this thread does every waiting call, its own too
                group, self._waiting = self._waiting, []
                for waiting in group:
                    waiting.taken = True
                self._in_flight += 1
            while group is None and not call.done:  # another thread's group has it
                self._changed.wait()
        if group is not None:
            self._run(group)
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _run(self, group: list[_Call[Item, Result]]) -> None:
        try:
            outcomes: Sequence[Result | BaseException] = self._run_group([call.item for call in group])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller, each raises it
            outcomes = [exc] * len(group)
        with self._changed:
            for call, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    call.error = outcome
                else:
                    call.result = outcome
                call.done = True
            self._in_flight -= 1
            self._changed.notify_all()
