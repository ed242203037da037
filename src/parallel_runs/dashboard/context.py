"""What every handler of the dashboard reaches through its request: the `Dashboard` it serves."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from starlette.requests import Request

from parallel_runs.core.redaction import Redactor
from parallel_runs.dashboard.source import Source

__all__ = ["Dashboard", "dashboard_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """What the app serves and what it may do."""

    source: Source
    redact: Redactor
    database_url: str | None = None  # the shared store's URL, for cancel (never shown)
    allow_cancel: bool = False
    token: str | None = None
    loopback: bool = True  # bound to loopback: requests must name a loopback host, or the one bound to
    host: str = "127.0.0.1"  # the address it listens on (127.0.0.2 is loopback too)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def can_cancel(self) -> bool:
        """Cancel needs --allow-cancel and a shared store (a runs dir's batch stops with its process)."""
        return self.allow_cancel and self.database_url is not None


def dashboard_of(request: Request) -> Dashboard:
    """The app's Dashboard, from any request."""
    found: Dashboard = request.app.state.dashboard
    return found
