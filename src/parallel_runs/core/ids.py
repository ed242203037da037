"""Run ids (CONTRACTS §2): validation, slugs, sources and dedupe. Pure. Braces expand in `braces`."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

from parallel_runs import testing_faults
from parallel_runs.core.braces import MAX_EXPANSION, expand_braces
from parallel_runs.errors import ConfigError, InvalidRunIdError

__all__ = [
    "MAX_RUN_ID_LENGTH",
    "MAX_SLUG_LENGTH",
    "RESERVED_SLUGS",
    "RUN_ID_SEPARATORS",
    "check_unique_slugs",
    "collect_run_ids",
    "dedupe",
    "is_valid_slug",
    "parse_run_ids_file",
    "slugify",
    "split_run_ids",
    "validate_batch_id",
    "validate_run_id",
]

MAX_RUN_ID_LENGTH = 128
MAX_SLUG_LENGTH = 100  # for hashed slugs; an id that is its own slug may be up to 128
HASH_LENGTH = 8
# Names of runs-dir entries a slug must not take (CONTRACTS §3). Compared case-insensitively
# because the runs dir may sit on a case-insensitive filesystem (macOS, Windows).
RESERVED_SLUGS = frozenset({"workspaces", "baselines"})

# What separates ids in --run-ids: a comma, a space, a tab or a newline. Any other whitespace (a
# carriage return, a no-break space) is part of an id, and refused there.
RUN_ID_SEPARATORS = ", \t\n"

# Cc: C0/C1 controls incl. \n \t DEL; Cf: invisible format chars (bidi overrides, BOM, ZWSP);
# Zl/Zp: line/paragraph separators; Cs: lone surrogates (argv's surrogateescape), not UTF-8.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SLUG_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_NOT_SLUG_CHAR = re.compile(r"[^A-Za-z0-9._-]")


def validate_run_id(run_id: str) -> None:
    """Raise `InvalidRunIdError` unless `run_id` is acceptable (CONTRACTS §2)."""
    rule = _broken_rule(run_id)
    if rule:
        raise InvalidRunIdError(f"invalid run id {run_id!r}: {rule}")


def validate_batch_id(batch_id: str) -> None:
    """Raise `ConfigError` unless `batch_id` follows the run ids' rule (both stores keep 128 characters)."""
    rule = _broken_rule(batch_id)
    if rule:
        raise ConfigError(f"invalid batch id {batch_id!r}: {rule}")


def _broken_rule(run_id: str) -> str | None:
    if not run_id:
        return "it is empty"
    if len(run_id) > MAX_RUN_ID_LENGTH:
        return f"it has {len(run_id)} characters, at most {MAX_RUN_ID_LENGTH} are allowed"
    if set(run_id) == {"."}:
        return "it is only dots"
    if run_id.isspace():
        return "it is only whitespace"
    return next(filter(None, (_broken_by(char, position) for position, char in enumerate(run_id))), None)


def _broken_by(char: str, position: int) -> str | None:
    category = unicodedata.category(char)
    if category in _FORBIDDEN_CATEGORIES:
        return f"it contains the control or invisible character {char!r} at position {position}"
    if category == "Zs" and char != " ":  # a no-break space looks like a separator but is not one
        return f"it contains the whitespace character {char!r} at position {position}; only plain spaces"
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
    if testing_faults.is_broken("slug"):  # chaos-proof only: the id is its own slug, whatever it holds
        return run_id
    validate_run_id(run_id)
    # Caveat: `A` and `a` are both valid slugs and stay distinct; on a case-insensitive
    # filesystem their directories (and loose branch refs) would clash. Kept so an id that is
    # a valid slug is always its own slug (CONTRACTS §2); avoid case-only differences in ids.
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


# --- sources ---------------------------------------------------------------------------------


def split_run_ids(text: str) -> list[str]:
    """Ids from `--run-ids`: split on commas, spaces, tabs and newlines (not inside braces), expanded."""
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
        if char in RUN_ID_SEPARATORS[1:] and depth:
            raise ConfigError(f"run ids {text!r}: whitespace inside braces; write lists as {{a,b}}")
        if depth == 0 and char in RUN_ID_SEPARATORS:
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
