"""Fitting a text report into a size limit (a GitHub comment holds 65,536 characters): each block
gets a fair share of the room, and a block cut short says how much it left out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Block", "fit"]


@dataclass(frozen=True, slots=True)
class Block:
    """A heading, items, and the note that replaces the items left out (`left_out(n)`)."""

    head: str
    items: Sequence[str]
    left_out: Callable[[int], str]
    separator: str = "\n"

    def render(self, room: int | None = None) -> str:
        """The whole block, or as many items as fit in `room` characters with the note; "" if none fit."""
        whole = (
            self.separator.join([self.head, *self.items]) if self.head else self.separator.join(self.items)
        )
        if room is None or len(whole) <= room:
            return whole
        kept = [self.head] if self.head else []
        used = len(self.head)
        for number, item in enumerate(self.items):
            note = self.left_out(len(self.items) - number)
            if used + 2 * len(self.separator) + len(item) + len(note) > room:
                text = self.separator.join([*kept, note])
                return text if len(text) <= room else ""
            kept.append(item)
            used += len(self.separator) + len(item)
        return self.separator.join(kept)  # pragma: no cover - the whole block fit after all


def fit(blocks: Sequence[Block], room: int, *, joiner: str = "\n\n") -> list[str]:
    """Render the blocks in at most `room` characters joined by `joiner`: small ones whole, the
    rest cut to an equal share of what is left (so one huge block cannot crowd out the others)."""
    room -= len(joiner) * max(0, len(blocks) - 1)
    sizes = [len(block.render()) for block in blocks]
    texts = [""] * len(blocks)
    remaining = room
    for left, index in enumerate(sorted(range(len(blocks)), key=sizes.__getitem__)):
        share = remaining // (len(blocks) - left)
        texts[index] = blocks[index].render(share)
        remaining -= len(texts[index])
    return [text for text in texts if text]
