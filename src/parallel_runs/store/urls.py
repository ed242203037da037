"""PostgreSQL URLs of the shared store: which forms we accept, and how they may be shown."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from parallel_runs.core.urls import HIDDEN, mask_url
from parallel_runs.errors import ConfigError

__all__ = ["ACCEPTED_SCHEMES", "DRIVER", "mask_url", "parse_postgres_url", "scrub"]

ACCEPTED_SCHEMES = ("postgresql", "postgresql+psycopg2")
DRIVER = "postgresql+psycopg2"


def scrub(text: str, url: str | URL) -> str:
    """`text` with every occurrence of the URL's password replaced (for wrapped driver messages)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return text
    query = parsed.query.get("password")
    secrets = [parsed.password, *([query] if isinstance(query, str) else query or ())]
    for secret in filter(None, secrets):
        # Drivers may echo the password decoded or as it was written in the URL.
        for form in {str(secret), quote(str(secret), safe=""), quote_plus(str(secret))}:
            text = text.replace(form, HIDDEN)
    return text


def parse_postgres_url(url: str) -> URL:
    """The URL with the psycopg2 driver made explicit; ConfigError for anything but PostgreSQL."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        # The text may hold a password we cannot locate, so it is not repeated.
        raise ConfigError(
            "the database URL is not a valid URL; expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"
        ) from None
    if parsed.drivername not in ACCEPTED_SCHEMES:
        hint = " (write postgresql://, not postgres://)" if parsed.drivername == "postgres" else ""
        raise ConfigError(
            f"database URL {mask_url(parsed)}: the shared store needs "
            f"{' or '.join(s + '://' for s in ACCEPTED_SCHEMES)}{hint}"
        )
    if not parsed.database:
        raise ConfigError(f"database URL {mask_url(parsed)} names no database")
    return parsed.set(drivername=DRIVER)
