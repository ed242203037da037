"""The JSON API (README, "Dashboard: the API"), which the pages poll too.

    GET /api/batches                              every batch, newest first
    GET /api/batches/{batch_id}                   one batch: counts, state, hosts
    GET /api/batches/{batch_id}/runs              its runs: ?status=&host=&q=&sort=&order=&page=&per_page=
    GET /api/batches/{batch_id}/runs/{run_id}     one run: its attempts, artifacts and events
    GET /api/batches/{batch_id}/logs/{run_id}     ?attempt=N&offset=K&start=S: a piece of one attempt's output

Ids are checked as the CLI checks them (400); unknown ones are 404; every body is redacted.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.dashboard.context import Dashboard, dashboard_of
from parallel_runs.dashboard.run_detail import log_piece
from parallel_runs.errors import ConfigError, NotFoundError
from parallel_runs.report.views import Page, Query, row_json
from parallel_runs.store.records import Records

__all__ = ["ROUTES", "attempt_json", "json_response"]


def json_response(request: Request, document: object, *, status: int = 200) -> Response:
    """`document` as JSON, with every secret this process knows redacted."""
    text = dashboard_of(request).redact(json.dumps(document, ensure_ascii=False))
    return Response(text, status_code=status, media_type="application/json")


def batches_json(request: Request) -> Response:
    """Every batch, newest first, with a version that changes when any of them does."""
    states = dashboard_of(request).source.batches()
    return json_response(
        request,
        {
            "batches": [state.to_json() for state in states],
            "live": any(state.live for state in states),
            "version": "|".join(state.version for state in states),
        },
    )


def batch_json(request: Request) -> Response:
    """One batch at a glance."""
    state = dashboard_of(request).source.batch(request.path_params["batch_id"])
    return json_response(request, state.to_json())


def runs_json(request: Request) -> Response:
    """One page of a batch's runs, filtered, sorted and paged by the store as the query asks."""
    source, batch_id = dashboard_of(request).source, request.path_params["batch_id"]
    query = Query.parse(request.query_params)
    state = source.batch(batch_id)
    page = Page.of(source.runs(batch_id, query.runs()), query)
    return json_response(
        request,
        {
            "batch": state.to_json(),
            "runs": [row_json(row) for row in page.rows],
            "matched": page.matched,
            "total": page.total,
            "page": page.query.page,
            "pages": page.pages,
            "per_page": page.query.per_page,
        },
    )


def artifacts_json(records: Records, attempt: Attempt) -> dict[str, object]:
    """The attempt's files, or why it has none here."""
    try:
        found = records.artifacts(attempt.run_id, batch_id=attempt.batch_id, attempt=attempt.attempt)
    except ConfigError as exc:  # NotFoundError, or an earlier attempt of a runs dir: its files were replaced
        return {"artifacts": [], "artifacts_note": str(exc)}
    files = [{"name": info.name, "size": info.size, "skipped": info.skipped} for info in found]
    return {"artifacts": files, "artifacts_note": None}


def attempt_json(records: Records, attempt: Attempt) -> dict[str, object]:
    """An attempt as the run endpoint gives it: result.json's fields, its pull request and its artifacts."""
    return attempt.record_json() | artifacts_json(records, attempt)


def run_document(dashboard: Dashboard, batch_id: str, run_id: str) -> dict[str, object]:
    """One run: its attempts in the batch, its events, whether it can still change."""
    attempts = dashboard.source.run(batch_id, run_id)
    records = dashboard.source.records
    latest = attempts[-1]
    return {
        "run_id": run_id,
        "batch_id": batch_id,
        "attempts": [attempt_json(records, attempt) for attempt in attempts],
        "events": [
            {"attempt": e.attempt, "at": e.at.isoformat(), "kind": e.kind, "message": e.message}
            for e in records.events(run_id)
        ],
        "live": latest.outcome is Outcome.RUNNING,
        "version": f"{len(attempts)}:{latest.outcome.value}",
    }


def run_json(request: Request) -> Response:
    """One run of a batch."""
    params = request.path_params
    return json_response(request, run_document(dashboard_of(request), params["batch_id"], params["run_id"]))


def _number(request: Request, name: str, *, minimum: int) -> int:
    text = request.query_params.get(name, "")
    if not text.isdigit() or int(text) < minimum:
        raise ConfigError(f"{name}={text[:40]!r} is not a number of at least {minimum}")
    return int(text)


def log_json(request: Request) -> Response:
    """A piece of one attempt's output, from `offset` in its part: the run page follows it by asking
    again with the `offset` and `start` (where the part begins in the log) the piece gave."""
    dashboard = dashboard_of(request)
    batch_id, run_id = request.path_params["batch_id"], request.path_params["run_id"]
    attempt = _number(request, "attempt", minimum=1)
    if not any(a.attempt == attempt for a in dashboard.source.run(batch_id, run_id)):
        raise NotFoundError(f"run {run_id!r} has no attempt {attempt} in batch {batch_id!r}")
    piece = log_piece(
        dashboard.source.records,
        run_id=run_id,
        batch_id=batch_id,
        attempt=attempt,
        offset=_number(request, "offset", minimum=0),
        start=_number(request, "start", minimum=0) if "start" in request.query_params else None,
    )
    return json_response(request, piece.to_json())


ROUTES = [
    Route("/api/batches", batches_json),
    Route("/api/batches/{batch_id}", batch_json),
    Route("/api/batches/{batch_id}/runs", runs_json),
    Route("/api/batches/{batch_id}/runs/{run_id:path}", run_json),  # a run id may hold a slash
    Route("/api/batches/{batch_id}/logs/{run_id:path}", log_json),
]
