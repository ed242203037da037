"""The pages: batches (`/`), a batch (`/batches/{id}`, its filters and sort in the URL) and a run
(`/batches/{id}/runs/{run}`), each with `?fragment=1` for the part its script swaps in when the
JSON API says something changed; the downloads and the cancel button's POST."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from parallel_runs.core.ids import validate_batch_id
from parallel_runs.dashboard.api import run_document
from parallel_runs.dashboard.context import dashboard_of
from parallel_runs.dashboard.run_detail import listed_artifact, read_patch
from parallel_runs.errors import ConfigError, NotFoundError
from parallel_runs.report.templating import render_template
from parallel_runs.report.views import TIMELINE, Query, batch_context
from parallel_runs.store.shared import SharedStore

__all__ = ["ROUTES"]


def _page(request: Request, template: str, **context: object) -> Response:
    """A page (or with ?fragment=1 its live part, `_NAME_live.html`), redacted."""
    dashboard = dashboard_of(request)
    if request.query_params.get("fragment") == "1":
        template = f"_{template.removesuffix('.html')}_live.html"
    text = render_template(
        template,
        live_server=True,
        where=dashboard.source.where,
        quote=quote,
        **context,
    )
    return Response(dashboard.redact(text), media_type="text/html")


def batches_page(request: Request) -> Response:
    """Every batch, newest first."""
    source = dashboard_of(request).source
    states = source.batches()
    return _page(request, "batches.html", batches=states, live=any(state.live for state in states))


def batch_page(request: Request) -> Response:
    """One batch: counts, filters, the runs table (one page of it), the timeline by host."""
    dashboard = dashboard_of(request)
    source, batch_id = dashboard.source, request.path_params["batch_id"]
    query = Query.parse(request.query_params)
    state = source.batch(batch_id)
    found = source.runs(batch_id, query.runs())
    timeline = source.runs(batch_id, TIMELINE).rows
    context = batch_context(found, query, state, timeline=timeline, now=datetime.now(UTC))
    return _page(
        request,
        "batch.html",
        can_cancel=dashboard.can_cancel and state.live,
        csrf=dashboard.csrf,
        cancelled=request.query_params.get("cancelled"),
        **context,
    )


def run_page(request: Request) -> Response:
    """One run: its attempts (newest first) with their logs, tests, change and files."""
    dashboard = dashboard_of(request)
    batch_id, run_id = request.path_params["batch_id"], request.path_params["run_id"]
    document = run_document(dashboard, batch_id, run_id)
    attempts = dashboard.source.run(batch_id, run_id)
    records = dashboard.source.records
    patches = {}
    for attempt in attempts:
        try:
            found = records.artifacts(run_id, batch_id=batch_id, attempt=attempt.attempt)
        except ConfigError:
            continue
        patches[attempt.attempt] = read_patch(records, found)
    return _page(
        request,
        "run.html",
        batch_id=batch_id,
        run_id=run_id,
        attempts=list(zip(attempts, document["attempts"], strict=True))[::-1],  # type: ignore[call-overload]
        patches=patches,
        events=document["events"],
        live=document["live"],
    )


def download(request: Request) -> Response:
    """One file an attempt left, streamed from the store (`?run=RUN&name=NAME`)."""
    dashboard = dashboard_of(request)
    batch_id, attempt = request.path_params["batch_id"], request.path_params["attempt"]
    run_id, name = request.query_params.get("run", ""), request.query_params.get("name", "")
    dashboard.source.run(batch_id, run_id)  # checks both ids
    records = dashboard.source.records
    info = listed_artifact(records, run_id=run_id, batch_id=batch_id, attempt=attempt, name=name)
    stream = records.open_artifact(info)

    def chunks() -> Iterator[bytes]:
        with stream:
            while data := stream.read(64 * 1024):
                yield data

    filename = quote(name.rsplit("/", 1)[-1])
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",  # never rendered by the browser: no script can run from it
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


async def cancel(request: Request) -> Response:
    """What `cancel --batch` does, with --allow-cancel and the page's CSRF token."""
    dashboard = dashboard_of(request)
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    given = (form.get("csrf") or [""])[0]
    if not dashboard.can_cancel or dashboard.database_url is None:
        return Response(
            "cancel is not allowed here (start the dashboard with --allow-cancel and --database-url)\n",
            status_code=403,
            media_type="text/plain",
        )
    if not hmac.compare_digest(given.encode(), dashboard.csrf.encode()):
        return Response(
            "bad or missing CSRF token: reload the page\n", status_code=403, media_type="text/plain"
        )
    batch_id = request.path_params["batch_id"]
    await run_in_threadpool(_cancel, dashboard.database_url, batch_id)
    dashboard.source.forget()
    return RedirectResponse(f"/batches/{quote(batch_id)}?cancelled=1", status_code=303)


def _cancel(url: str, batch_id: str) -> None:
    validate_batch_id(batch_id)
    with SharedStore.connect(url) as store:
        if store.cancel(batch_id) is None:
            raise NotFoundError(f"no such batch {batch_id!r} in the shared store")


ROUTES = [
    Route("/", batches_page),
    Route("/batches/{batch_id}", batch_page),
    Route("/batches/{batch_id}/runs/{run_id:path}", run_page),
    Route("/batches/{batch_id}/files/{attempt:int}", download),
    Route("/batches/{batch_id}/cancel", cancel, methods=["POST"]),
]
