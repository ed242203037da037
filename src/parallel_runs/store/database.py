"""The PostgreSQL engine of the shared store: pre-pinged pool, bounded retries, masked errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from parallel_runs.errors import ConfigError, ParallelRunsError, StoreError
from parallel_runs.store.urls import mask_url, scrub

__all__ = [
    "MAX_CONNECTIONS",
    "ReconnectPolicy",
    "UnavailableError",
    "create_store_engine",
    "describe_error",
    "is_transient",
    "retry",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 5
# Messages of connection errors that waiting will not fix: fail at once instead of backing off.
_PERMANENT_MARKERS = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "could not translate host name",
    "name or service not known",
    "invalid dsn",
)


class UnavailableError(StoreError):
    """The database stayed unreachable through every retry (the write may be spooled)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """How often, and after how long, a database call is tried again after a transient connection error.

    Bounded exponential backoff with jitter. Not to be confused with a run's retries (`--retries`): this
    one is about the connection, and its tries are not attempts of a run.
    """

    tries: int = 6
    first_delay: float = 0.25
    max_delay: float = 4.0

    def delays(self) -> list[float]:
        """The sleeps between tries: `tries - 1` of them."""
        return [min(self.max_delay, self.first_delay * 2**n) for n in range(max(0, self.tries - 1))]


# Connections a process holds at most, whatever its --workers: 64 runners x 4 workers must fit in a
# server's max_connections (100 by default). Each is held only for one short transaction.
MAX_CONNECTIONS = 2
POOL_WAIT_SECONDS = 60.0


def create_store_engine(url: URL) -> Engine:
    """An engine of at most MAX_CONNECTIONS, held only during a store call.

    No pre-ping (it would cost a round trip per call): a connection a restarted server dropped
    fails its statement, which `retry` sees as transient and runs again on a fresh connection.
    Nothing lives in the session (no advisory locks, no server-side prepared statements), so it
    works behind PgBouncer in transaction pooling mode.
    """
    return create_engine(
        url,
        pool_size=MAX_CONNECTIONS,
        max_overflow=0,
        pool_timeout=POOL_WAIT_SECONDS,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "parallel-runs"},
    )


def _message(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return "; ".join(lines) or type(cause).__name__


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: a lost or refused connection, a restart, a serialization clash."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError):
        return False
    text = _message(exc).lower()
    return not any(marker in text for marker in _PERMANENT_MARKERS)


def describe_error(exc: BaseException, url: str | URL) -> str:
    """The driver's message, one line, with the URL's password scrubbed out."""
    return scrub(_message(exc), url)


def _permanent(exc: sa_exc.SQLAlchemyError, *, doing: str, url: str | URL) -> ParallelRunsError:
    if isinstance(exc, sa_exc.OperationalError) and exc.statement is None:
        # Refused while connecting (no such database, bad password, unknown host): the user's to fix.
        return ConfigError(f"{doing}: cannot connect to {mask_url(url)}: {describe_error(exc, url)}")
    return StoreError(f"{doing} failed on {mask_url(url)}: {describe_error(exc, url)}")


def retry(fn: Callable[[], T], *, doing: str, url: str | URL, policy: ReconnectPolicy) -> T:
    """Call `fn`, retrying transient errors with backoff; other database errors become ours."""
    delays = policy.delays()
    for done in range(len(delays) + 1):
        try:
            return fn()
        except sa_exc.SQLAlchemyError as exc:
            if not is_transient(exc):
                raise _permanent(exc, doing=doing, url=url) from exc
            if done == len(delays):
                raise UnavailableError(
                    f"{doing} failed on {mask_url(url)} after {done + 1} tries: {describe_error(exc, url)}"
                ) from exc
            delay = delays[done] * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy
            log.warning(
                "%s: database %s unreachable (%s); retrying in %.2fs",
                doing,
                mask_url(url),
                describe_error(exc, url),
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
