"""The token as git and the log must see it: an HTTP header for one push, and what to mask."""

from __future__ import annotations

import base64

__all__ = ["push_config", "token_secrets"]


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


def push_config(token: str, server_url: str) -> dict[str, str]:
    """Git settings that authenticate a push to `server_url` with `token` (as actions/checkout does)."""
    return {f"http.{server_url.rstrip('/')}/.extraheader": f"AUTHORIZATION: basic {_basic(token)}"}


def token_secrets(token: str) -> list[str]:
    """The token and its encoded header value: both must be masked in the log."""
    return [token, _basic(token)] if token else []
