"""Database URLs as people may see them: never with their password."""

from __future__ import annotations

import re

__all__ = ["mask_url"]

_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)", re.I)


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***` (works on URLs SQLAlchemy cannot parse too)."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)
