"""Database URLs as people may see them: never with their password."""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

__all__ = ["HIDDEN", "mask_url", "url_passwords", "without_password"]

HIDDEN = "***"

# scheme://user:PASSWORD@host — the password runs to the last `@` before the path, query or fragment,
# so an unescaped `@` or `:` in it is hidden too, and a port (`host:5432/db?x=a@b`) is not taken for it.
# A scheme starts where no scheme character precedes it: tried from inside a long run of letters it
# would scan to the run's end from every position, quadratic in a 1 MB line of a run's output.
_USERINFO_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9+.-])(?:[a-z][a-z0-9+.-]*)?://[^:/?#@\s]*:)[^/?#\s]+(?=@)", re.I
)
# libpq also takes the password as a query parameter: ?password=... or &password=...
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.I)


def mask_url(url: object) -> str:
    """The URL (or a text holding URLs) with every password replaced by `***`; no parsing needed.

    Anything whose `str()` is a URL will do, such as SQLAlchemy's `URL`.
    """
    text = _USERINFO_PASSWORD.sub(lambda m: f"{m['head']}{HIDDEN}", str(url))
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{HIDDEN}", text)


def without_password(url: str) -> str:
    """The URL with its password left out (`user:secret@host` -> `user@host`, `password=` dropped).

    A client then takes the password from its own sources (libpq: PGPASSWORD, ~/.pgpass).
    """
    text = _USERINFO_PASSWORD.sub(lambda m: m["head"][:-1], url)
    text = _QUERY_PASSWORD.sub(lambda m: m["head"][0], text)  # keep the `?` or `&` ...
    return re.sub(r"([?&])&+|[?&]+(?=#|$)", lambda m: m[1] or "", text)  # ... and drop the empty pair


def url_passwords(url: str) -> list[str]:
    """Every password in the URL, as written and percent-decoded: the texts a log must never show."""
    found: list[str] = []
    for pattern in (_USERINFO_PASSWORD, _QUERY_PASSWORD):
        for match in pattern.finditer(url):
            raw = match[0][len(match["head"]) :]
            for form in (raw, unquote(raw), unquote_plus(raw)):
                if form and form not in found:
                    found.append(form)
    return found
