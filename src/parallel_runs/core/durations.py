"""Durations for `--timeout` and friends: `90`, `2.5`, `500ms`, `1h30m`, `2d` ↔ seconds. Pure."""

from __future__ import annotations

import math
import re

from parallel_runs.errors import ConfigError

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

# A year: far beyond any sane timeout, and keeps absurd inputs (`9999…9`, which float() turns
# into inf) away from clocks and `threading` waits that overflow on them.
MAX_DURATION = 365 * 86_400.0

_UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_ORDER = tuple(_UNIT_SECONDS)  # largest first; each unit at most once, in this order
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"  # ASCII digits only: int() would also take '٣'
_BARE = re.compile(_NUMBER)
_PART = re.compile(rf"({_NUMBER})(ms|[dhms])")
_FORMS = (
    "expected positive seconds (90, 2.5) or units ms, s, m, h, d largest first (500ms, 2s, 5m, 1h30m, 2d)"
)


def parse_duration(text: str, *, name: str | None = None) -> float:
    """Seconds in `text`; raise `ConfigError` (naming the flag `name` when given) unless it is a positive
    duration."""
    stripped = text.strip()
    number = stripped.removeprefix("-")  # `-5s` is read, to be refused for its sign, not its form
    seconds = float(number) if _BARE.fullmatch(number) else _parse_units(number)
    said = f"{name}: invalid duration {text!r}" if name else f"invalid duration {text!r}"
    if seconds is None:
        raise ConfigError(f"{said}: {_FORMS}")
    if seconds <= 0 or number != stripped:
        raise ConfigError(f"{said}: it must be greater than zero")
    if seconds > MAX_DURATION:
        raise ConfigError(f"{said}: it must be at most 365d")
    return seconds


def _parse_units(text: str) -> float | None:
    position = 0
    previous_unit = -1
    seconds = 0.0
    while position < len(text):
        part = _PART.match(text, position)
        if part is None:
            return None
        unit = _UNIT_ORDER.index(part.group(2))
        if unit <= previous_unit:  # `30m1h` and `1m1m` are more likely typos than intent
            return None
        seconds += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        previous_unit = unit
        position = part.end()
    return seconds if text else None


def format_duration(seconds: float | None) -> str:
    """Short human form: `1.2s` under a minute, `3m05s` under an hour, else `1h02m`; `-` when unknown."""
    if seconds is None:
        return "-"
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return f"-{format_duration(-seconds)}"
    # Round once, then branch, so 59.96 s is `1m00s` and not `60.0s`.
    tenths = round(seconds * 10)
    if tenths < 600:
        return f"{tenths / 10:.1f}s"
    whole = round(seconds)
    if whole < 3_600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours}h{minutes:02d}m"
