"""The action's report mode: the batch's report from the store or from the legs' artifacts.

Writes the job summary (counts, runs table, mermaid gantt, new test failures) and the HTML report,
sets the outputs, and with a token posts one sticky comment on a pull request and a check run.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from parallel_runs.cli.action import say
from parallel_runs.config import ReportSettings
from parallel_runs.core.redaction import Redactor
from parallel_runs.errors import EXIT_FAILED, EXIT_OK
from parallel_runs.github.commands import Annotations
from parallel_runs.report.markdown import MARKDOWN_LIMIT

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from parallel_runs.config.action import ActionSettings
    from parallel_runs.report import RunRow

__all__ = ["report_batch"]


def _rows(work: ReportSettings) -> list[RunRow]:
    """The batch's rows from the shared store, or from the legs' downloaded runs dirs ([] if none came)."""
    from parallel_runs import report
    from parallel_runs.store.opening import open_records

    with open_records(work.where.place, store_file=work.where.store_file) as records:  # no runs dir: none
        return report.build_rows(records.attempts(work.batch_id), batch_id=work.batch_id)


def _redactor(settings: ActionSettings) -> Redactor:
    """Hides every secret the step knows (the token, the store's password, the runner's tokens)."""
    secrets = settings.work.secrets if isinstance(settings.work, ReportSettings) else frozenset()
    return Redactor(secrets | {settings.token or ""})


def _counts(rows: Sequence[RunRow]) -> tuple[int, int]:
    succeeded = sum(1 for row in rows if row.latest.outcome.is_success)
    return succeeded, len(rows) - succeeded


def _headline(rows: Sequence[RunRow]) -> str:
    succeeded, failed = _counts(rows)
    if not rows:
        return "no runs found"
    return f"{len(rows)} run(s): {succeeded} succeeded, {failed} did not"


def _post(settings: ActionSettings, rows: Sequence[RunRow], *, now: datetime, status: str) -> list[str]:
    """The sticky PR comment and the check run; the problems, to annotate (never fatal)."""
    from parallel_runs import report
    from parallel_runs.github.api import GithubApi, GithubApiError

    context, problems = settings.context, []
    link = f"[Job summary with the timeline]({context.run_url})" if context.run_url else ""
    stamp = f"updated {now:%Y-%m-%d %H:%M:%S} UTC"
    footer = " \u00b7 ".join(filter(None, [link, stamp]))
    # The markdown report keeps within a comment's 65,536 characters (the timeline stays in the summary).
    title = report.format_title(settings.batch_id)
    markdown = report.render_markdown(rows, title=title, limit=MARKDOWN_LIMIT - len(footer) - 1)
    body = _redactor(settings)(markdown + footer)
    api = GithubApi(token=settings.token or "", repository=context.repository, api_url=context.api_url)
    try:
        number = context.pull_request_number
        if number is not None:
            done = api.post_sticky_comment(number=number, body=body, marker=context.comment_marker)
            say(f"pull request #{number}: comment {done.comment_id} {done.action}")
        if settings.check_name and context.head_sha:
            api.create_check_run(
                name=settings.check_name,
                head_sha=context.head_sha,
                conclusion=status,
                title=_headline(rows),
                summary=body,
            )
    except GithubApiError as exc:
        problems.append(str(exc))
    finally:
        api.close()
    return problems


def _write_reports(settings: ActionSettings, rows: Sequence[RunRow], now: datetime) -> Path:
    """The job summary (or stdout outside Actions) and the HTML report; the HTML report's path."""
    from parallel_runs import report
    from parallel_runs.github.files import append_summary

    title, context = report.format_title(settings.batch_id), settings.context
    artifact = settings.names.report_artifact
    footer = f"[HTML report: artifact `{artifact}`]({context.run_url})" if context.run_url else ""
    redact = _redactor(settings)
    summary = redact(report.render_summary(rows, title=title, now=now, footer=footer))
    if context.summary_file is not None:
        append_summary(context.summary_file, summary)
    else:
        sys.stdout.write(summary)
    html = settings.names.report_html
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(redact(report.render_html(rows, title=title, now=now)), encoding="utf-8")
    return html


def report_batch(settings: ActionSettings) -> int:
    """Report the batch; exit 1 when a run did not succeed (or none ran) and fail-on-unsuccessful."""
    from parallel_runs.cli.action import write_outputs

    work = settings.work
    if not isinstance(work, ReportSettings):
        raise TypeError("the report step needs ReportSettings")
    rows, now = _rows(work), datetime.now(UTC)
    html = _write_reports(settings, rows, now)
    succeeded, failed = _counts(rows)
    status = "success" if rows and not failed else "failure"
    outputs = {"batch-id": settings.batch_id, "status": status, "run-count": str(len(rows))}
    write_outputs(
        settings, outputs | {"succeeded": str(succeeded), "failed": str(failed), "report-path": str(html)}
    )
    annotations = Annotations(say, redact=_redactor(settings))
    if settings.token and settings.context.repository:
        for problem in _post(settings, rows, now=now, status=status):
            annotations.add("warning", problem, title="parallel-runs report")
    if status == "failure":
        annotations.add("error", f"batch {settings.batch_id}: {_headline(rows)}", title="parallel-runs")
    annotations.close()
    return EXIT_FAILED if status == "failure" and settings.fail_on_unsuccessful else EXIT_OK
