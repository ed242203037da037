"""What every store's `with` does: the block gets the store, and its end closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """`with store:` yields the store and calls its `close` on the way out, whatever happened."""

    def close(self) -> None:
        """Release what the store holds; each store says what."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
