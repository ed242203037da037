"""The dashboard's ASGI app (Starlette): the pages (`pages.py`), the JSON API (`api.py`), the static
assets shipped in the package, and what keeps it safe (README, "Dashboard: security").

- Bound to loopback, requests must name a loopback host (no DNS rebinding from a web page).
- With a token, every request carries it: `Authorization: Bearer TOKEN`, or the cookie that opening
  any page with `?token=TOKEN` once sets.
- Cancel is a POST with the CSRF token of the page that offered it, and only with --allow-cancel.
- Every response's text goes through the Redactor of the secrets this process knows.
"""

from __future__ import annotations

import hmac
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from parallel_runs.dashboard import api, pages
from parallel_runs.dashboard.context import Dashboard, dashboard_of
from parallel_runs.errors import ConfigError, InvalidRunIdError, NotFoundError
from parallel_runs.report.templating import render_template

__all__ = ["LOOPBACK_HOSTS", "create_app"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
TOKEN_COOKIE = "parallel_runs_token"  # noqa: S105 - the cookie's name, not its value


class TokenGate:
    """Every request must carry the token (header, cookie, or `?token=` which then sets the cookie)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        header = request.headers.get("authorization", "")
        offered = [given, header.removeprefix("Bearer ") if header.startswith("Bearer ") else None]
        offered.append(request.cookies.get(TOKEN_COOKIE))
        if not any(value and hmac.compare_digest(value.encode(), self.token.encode()) for value in offered):
            refused = PlainTextResponse(
                "parallel-runs dashboard: a token is required (open /?token=TOKEN once, or send "
                "Authorization: Bearer TOKEN)\n",
                status_code=401,
            )
            await refused(scope, receive, send)
            return
        if given is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                headers = [*message.get("headers", []), (b"set-cookie", cookie.encode())]  # type: ignore[misc]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)  # type: ignore[arg-type]


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(request, str(exc), 400)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, str(exc), 404)


def _error(request: Request, message: str, status: int) -> Response:
    text = dashboard_of(request).redact(message)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": text}, status_code=status)
    return Response(
        render_template("error.html", message=text, status=status), status_code=status, media_type="text/html"
    )


def create_app(dashboard: Dashboard) -> Starlette:
    """The ASGI app serving `dashboard`."""
    static = Path(str(files("parallel_runs.report") / "static"))
    routes = [
        *pages.ROUTES,
        *api.ROUTES,
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    middleware = []
    if dashboard.loopback:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_HOSTS, dashboard.host]))
    if dashboard.token:
        middleware.append(Middleware(TokenGate, token=dashboard.token))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ConfigError: _bad_request,
            InvalidRunIdError: _bad_request,
            NotFoundError: _not_found,
        },
    )
    app.state.dashboard = dashboard
    return app
