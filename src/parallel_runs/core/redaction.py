"""Secret values out of every text that leaves the process. Pure: values in, text out.

The process knows its secrets (the database URL's password, tokens, and later `run-secrets`); a
Redactor built from them replaces each one, in the forms a renderer may have turned it into (HTML,
JSON, percent-encoding), with `***`, and hides the password of any URL in the text as well.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from parallel_runs.core.urls import HIDDEN, mask_url

__all__ = ["MIN_SECRET_LENGTH", "Redactor", "token_header", "token_secrets"]

# Shorter values are left alone: hiding every `ab` or `1` would wreck the text and hide nothing
# worth hiding (no token or password of ours is that short).
MIN_SECRET_LENGTH = 4


def _forms(value: str) -> set[str]:
    """The value as written, and as the renderers and URLs may have encoded it."""
    return {value, html.escape(value), json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}


class Redactor:
    """Replaces every known secret value in a text; a Redactor of no values still hides URL passwords."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {value for value in secrets if len(value) >= MIN_SECRET_LENGTH}
        forms = {form for value in values for form in _forms(value) if len(form) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is hidden whole.
        self._forms = sorted(forms, key=lambda form: (-len(form), form))

    def __call__(self, text: str) -> str:
        """`text` with every secret (and every URL's password) replaced by `***`."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, HIDDEN)
        return mask_url(text)

    def optional(self, text: str | None) -> str | None:
        """`text` redacted; None stays None."""
        return None if text is None else self(text)


def token_header(token: str) -> str:
    """The token as a push's HTTP basic credentials carry it (`x-access-token:<token>`, base64)."""
    return base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


def token_secrets(token: str) -> list[str]:
    """The token and its encoded header value: both must be masked in the log."""
    return [token, token_header(token)] if token else []
