"""Byte sizes as people write them: `50MiB`, `10MB`, `512k`, `1048576`. Pure."""

from __future__ import annotations

import re

from parallel_runs.errors import ConfigError

__all__ = ["parse_size"]

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1000, "kib": 1024,
    "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in `text`; ConfigError naming the value for anything else or for zero."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(f"{text!r} is not a size (use e.g. 50MiB, 10MB, 512k or a number of bytes)")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ConfigError(f"size {text!r} must be more than 0 bytes")
    return size
