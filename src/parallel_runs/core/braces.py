"""Brace expansion of run ids, as bash does it: `exp-{001..120}`, `x-{a,b}`, nested. Pure."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from parallel_runs.errors import ConfigError

__all__ = ["MAX_EXPANSION", "expand_braces"]

MAX_EXPANSION = 100_000  # ids per pattern and per batch; a pattern is counted before it is built
MAX_BRACE_DEPTH = 32
_NUMBER_RANGE = re.compile(r"(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?")
_LETTER_RANGE = re.compile(r"([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?")


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str

    def count(self) -> int:
        return 1

    def expand(self) -> list[str]:
        return [self.text]


@dataclass(frozen=True, slots=True)
class _Range:
    """`{first..last..step}`; counted by arithmetic so `{1..999999999}` is never built."""

    first: int
    last: int
    step: int
    width: int | None  # None: letters (code points); 0: plain numbers; >0: zero-padded

    def count(self) -> int:
        return abs(self.last - self.first) // self.step + 1

    def expand(self) -> list[str]:
        step = self.step if self.first <= self.last else -self.step
        values = range(self.first, self.last + (1 if step > 0 else -1), step)
        if self.width is None:
            return [chr(value) for value in values]
        return [f"{value:0{self.width}d}" for value in values]


@dataclass(frozen=True, slots=True)
class _Concat:
    parts: tuple[_Node, ...]

    def count(self) -> int:
        total = 1
        for part in self.parts:
            total *= part.count()
        return total

    def expand(self) -> list[str]:
        # itertools.product varies the rightmost group fastest: bash's left-to-right order.
        return ["".join(words) for words in itertools.product(*(part.expand() for part in self.parts))]


@dataclass(frozen=True, slots=True)
class _Alternatives:
    options: tuple[_Node, ...]

    def count(self) -> int:
        return sum(option.count() for option in self.options)

    def expand(self) -> list[str]:
        return [word for option in self.options for word in option.expand()]


_Node = _Literal | _Range | _Concat | _Alternatives


def expand_braces(pattern: str, *, limit: int = MAX_EXPANSION) -> list[str]:
    """Bash-like brace expansion: `{001..120}`, `{a..e}`, `{x..y..step}`, `{a,b{c,d}}`."""
    matches = _match_braces(pattern)
    node = _parse(pattern, 0, len(pattern), matches=matches, depth=0)
    count = node.count()  # every node counts at least 1, so no part exceeds the whole
    if count > limit:
        raise ConfigError(f"brace pattern {pattern!r} expands to {count} ids, at most {limit} are allowed")
    return node.expand()


def _match_braces(pattern: str) -> dict[int, int]:
    matches: dict[int, int] = {}
    opened: list[int] = []
    for position, char in enumerate(pattern):
        if char == "{":
            opened.append(position)
        elif char == "}":
            if not opened:
                raise ConfigError(f"bad brace pattern {pattern!r}: unmatched '}}' at position {position}")
            matches[opened.pop()] = position
    if opened:
        raise ConfigError(f"bad brace pattern {pattern!r}: unmatched '{{' at position {opened[-1]}")
    return matches


def _parse(pattern: str, start: int, stop: int, *, matches: dict[int, int], depth: int) -> _Node:
    if depth > MAX_BRACE_DEPTH:
        raise ConfigError(f"bad brace pattern {pattern!r}: braces nested deeper than {MAX_BRACE_DEPTH}")
    parts: list[_Node] = []
    position = start
    while position < stop:
        opening = pattern.find("{", position, stop)
        if opening < 0:
            parts.append(_Literal(pattern[position:stop]))
            break
        if opening > position:
            parts.append(_Literal(pattern[position:opening]))
        closing = matches[opening]
        parts.append(_parse_group(pattern, opening, closing, matches=matches, depth=depth + 1))
        position = closing + 1
    return _Concat(tuple(parts))


def _parse_group(pattern: str, opening: int, closing: int, *, matches: dict[int, int], depth: int) -> _Node:
    commas = _top_level_commas(pattern, opening + 1, closing, matches)
    if commas:
        bounds = zip([opening, *commas], [*commas, closing], strict=True)
        options = [_parse(pattern, a + 1, b, matches=matches, depth=depth) for a, b in bounds]
        return _Alternatives(tuple(options))
    body = pattern[opening + 1 : closing]
    parsed = _parse_range(body)
    if parsed is None:
        what = (
            "empty braces '{}'"
            if not body
            else f"'{{{body}}}' is neither a list {{a,b}} nor a range {{1..3}}"
        )
        raise ConfigError(f"bad brace pattern {pattern!r}: {what}")
    return parsed


def _top_level_commas(pattern: str, start: int, stop: int, matches: dict[int, int]) -> list[int]:
    commas: list[int] = []
    position = start
    while position < stop:
        if pattern[position] == "{":
            position = matches[position]
        elif pattern[position] == ",":
            commas.append(position)
        position += 1
    return commas


def _parse_range(body: str) -> _Range | None:
    """Like bash: a step's sign is ignored, step 0 means 1, a zero-padded end pads them all."""
    if found := _NUMBER_RANGE.fullmatch(body):
        first, last = found.group(1), found.group(2)
        padded = any(_is_zero_padded(end) for end in (first, last))
        width = max(len(first), len(last)) if padded else 0
        return _Range(int(first), int(last), _step(found.group(3)), width)
    if found := _LETTER_RANGE.fullmatch(body):
        return _Range(ord(found.group(1)), ord(found.group(2)), _step(found.group(3)), None)
    return None


def _is_zero_padded(number: str) -> bool:
    digits = number.removeprefix("-")
    return len(digits) > 1 and digits.startswith("0")


def _step(text: str | None) -> int:
    return (abs(int(text)) or 1) if text else 1
