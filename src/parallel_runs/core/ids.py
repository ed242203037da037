"""Run ids (DESIGN §2): validation, slugs, brace expansion, sources and dedupe. Pure."""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from parallel_runs.errors import ConfigError, InvalidRunIdError

__all__ = [
    "MAX_EXPANSION",
    "MAX_RUN_ID_LENGTH",
    "MAX_SLUG_LENGTH",
    "RESERVED_SLUGS",
    "check_unique_slugs",
    "collect_run_ids",
    "dedupe",
    "expand_braces",
    "is_valid_slug",
    "parse_run_ids_file",
    "slugify",
    "split_run_ids",
    "validate_run_id",
]

MAX_RUN_ID_LENGTH = 128
MAX_SLUG_LENGTH = 100  # for hashed slugs; an id that is its own slug may be up to 128
MAX_EXPANSION = 100_000  # ids per pattern and per batch; a pattern is counted before it is built
MAX_BRACE_DEPTH = 32
HASH_LENGTH = 8
# Names of runs-dir entries a slug must not take (DESIGN §3). Compared case-insensitively
# because the runs dir may sit on a case-insensitive filesystem (macOS, Windows).
RESERVED_SLUGS = frozenset({"workspaces", "baselines"})

# Cc: C0/C1 controls incl. \n \t DEL; Cf: invisible format chars (bidi overrides, BOM, ZWSP);
# Zl/Zp: line/paragraph separators; Cs: lone surrogates (argv's surrogateescape), not UTF-8.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SLUG_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_NOT_SLUG_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_NUMBER_RANGE = re.compile(r"(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?")
_LETTER_RANGE = re.compile(r"([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?")


def validate_run_id(run_id: str) -> None:
    """Raise `InvalidRunIdError` unless `run_id` is acceptable (DESIGN §2)."""
    rule = _broken_rule(run_id)
    if rule:
        raise InvalidRunIdError(f"invalid run id {run_id!r}: {rule}")


def _broken_rule(run_id: str) -> str | None:
    if not run_id:
        return "it is empty"
    if len(run_id) > MAX_RUN_ID_LENGTH:
        return f"it has {len(run_id)} characters, at most {MAX_RUN_ID_LENGTH} are allowed"
    for position, char in enumerate(run_id):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"it contains the control or invisible character {char!r} at position {position}"
    if set(run_id) == {"."}:
        return "it is only dots"
    if run_id.isspace():
        return "it is only whitespace"
    return None


def is_valid_slug(text: str) -> bool:
    """Whether `text` is usable as-is as a path component and in a branch name."""
    return (
        0 < len(text) <= MAX_RUN_ID_LENGTH
        and _SLUG_CHARS.fullmatch(text) is not None
        and not text.startswith(("-", "."))
        # A trailing dot is refused by git ("parallel-runs/a." is no branch) and by Windows.
        and not text.endswith((".lock", "."))
        and ".." not in text
    )


def slugify(run_id: str) -> str:
    """The slug of a valid run id: itself when it is a valid slug, else cleaned id + hash."""
    validate_run_id(run_id)
    # Caveat: `A` and `a` are both valid slugs and stay distinct; on a case-insensitive
    # filesystem their directories (and loose branch refs) would clash. Kept so an id that is
    # a valid slug is always its own slug (DESIGN §2); avoid case-only differences in ids.
    if is_valid_slug(run_id) and run_id.lower() not in RESERVED_SLUGS:
        return run_id
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    return f"{_clean(run_id) or 'run'}-{digest}"


def _clean(run_id: str) -> str:
    cleaned = _NOT_SLUG_CHAR.sub("-", run_id)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"-{2,}", "-", cleaned).lstrip("-.")
    cleaned = cleaned[: MAX_SLUG_LENGTH - HASH_LENGTH - 1]
    while True:  # `a.lock.` → `a.lock` → `a`: strip until nothing changes
        stripped = cleaned.removesuffix(".lock").rstrip(".-")
        if stripped == cleaned:
            return cleaned
        cleaned = stripped


# --- brace expansion -------------------------------------------------------------------------


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


# --- sources ---------------------------------------------------------------------------------


def split_run_ids(text: str) -> list[str]:
    """Ids from `--run-ids`: split on commas and/or whitespace (not inside braces), expanded."""
    ids: list[str] = []
    for token in _split_tokens(text):
        _extend_capped(ids, expand_braces(token))
    return ids


def _extend_capped(ids: list[str], words: Iterable[str]) -> None:
    # Empty words are dropped like bash does: `x{,-y}` is `x x-y`, `{,}` is nothing.
    ids.extend(word for word in words if word)
    if len(ids) > MAX_EXPANSION:
        raise ConfigError(f"more than {MAX_EXPANSION} run ids given")


def _split_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char.isspace() and depth:
            raise ConfigError(f"run ids {text!r}: whitespace inside braces; write lists as {{a,b}}")
        if depth == 0 and (char == "," or char.isspace()):
            tokens.append("".join(current))
            current = []
            continue
        current.append(char)
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1  # an unmatched '}' is left for expand_braces to report
    tokens.append("".join(current))
    return [token for token in tokens if token]


def parse_run_ids_file(text: str) -> list[str]:
    """Ids from a `--run-ids-file`: one per line, blank and whole-line `#` comments skipped."""
    # Only whole-line comments: an id may contain '#', so `a # b` is the one id "a # b".
    # Lines are split on '\n' only, so a stray '\v' or '\u2028' stays in its id and is refused.
    ids: list[str] = []
    for line in text.removeprefix("\ufeff").split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            _extend_capped(ids, expand_braces(stripped))
    return ids


def dedupe(ids: Iterable[str]) -> list[str]:
    """Remove repeated ids, keeping the first occurrence of each in order."""
    return list(dict.fromkeys(ids))


def check_unique_slugs(ids: Iterable[str]) -> None:
    """Validate every id; ConfigError when two different ids share a slug (repeats of one id are fine)."""
    owners: dict[str, str] = {}
    for run_id in ids:
        slug = slugify(run_id)  # validates the id first
        other = owners.setdefault(slug, run_id)
        if other != run_id:
            raise ConfigError(f"run ids {other!r} and {run_id!r} share the slug {slug!r}; rename one")


def collect_run_ids(*, run_ids_args: Sequence[str] = (), files_text: Sequence[str] = ()) -> list[str]:
    """All run ids of a batch: every source in order, validated, deduped, slugs checked unique."""
    ids: list[str] = []
    for arg in run_ids_args:
        _extend_capped(ids, split_run_ids(arg))
    for text in files_text:
        _extend_capped(ids, parse_run_ids_file(text))
    if not ids:
        raise ConfigError("no run ids given: pass --run-ids and/or --run-ids-file")
    unique = dedupe(ids)
    check_unique_slugs(unique)
    return unique
