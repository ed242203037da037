"""The token as git must see it: an HTTP header for one push (what to mask: core.redaction)."""

from __future__ import annotations

from parallel_runs.core.redaction import token_header

__all__ = ["push_config"]


def push_config(token: str, server_url: str) -> dict[str, str]:
    """Git settings that authenticate a push to `server_url` with `token` (as actions/checkout does)."""
    return {f"http.{server_url.rstrip('/')}/.extraheader": f"AUTHORIZATION: basic {token_header(token)}"}
