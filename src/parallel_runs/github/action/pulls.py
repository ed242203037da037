"""The action's pull requests (input `pull-requests: draft | ready`): one per run that succeeded.

A run leg pushes the branch of each run it saw succeed (never a regressed or failed one) and opens a
pull request from it against the base branch, or updates the open one a re-run finds by the same
head branch: never two. Each one opened is recorded on its run's attempt in the store
(`Store.record_pull_request`), where the dashboard and every report format read it; the action's
report looks them up by head branch to link each run to its own.
Nothing here fails the leg: a token without the permission (403) or any other refusal is a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from parallel_runs.batch.result import RunSummary
from parallel_runs.core.durations import format_duration
from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.core.tasks import TASK_FILE_NAME, task_title
from parallel_runs.errors import GitError, ParallelRunsError
from parallel_runs.github.action.outputs import say
from parallel_runs.github.action.settings import ActionSettings
from parallel_runs.report.markdown import md_code

if TYPE_CHECKING:
    from collections.abc import Callable

    from parallel_runs.batch.result import BatchResult
    from parallel_runs.config.worker import WorkerSettings

__all__ = ["LABEL", "Opened", "open_pull_requests", "pull_request_body", "record_pull_requests", "run_title"]

Opened = list[tuple[Attempt, PullRequest]]  # each run's final attempt and the pull request from its branch

LABEL = "parallel-runs"
_SHOWN_TESTS = 50  # node ids listed per kind; the run's ci/delta.json has them all


def run_title(runs_dir: Path, final: Attempt) -> str:
    """The pull request's title: the run's task title (its task.json), else the run id."""
    try:
        text = (runs_dir / final.slug / TASK_FILE_NAME).read_text(encoding="utf-8")
        title = task_title(text)
    except (OSError, ValueError):
        title = None
    return title or final.run_id


def _tests(final: Attempt) -> list[str]:
    tests = final.tests
    if tests is None:
        return ["- Tests: no test command judged this run."]
    lines = [f"- Tests: `{tests.summary}` against the base commit ({tests.status})"]
    for label, names in (
        ("newly failing", tests.new_failures),
        ("flaky", tests.flaky),
        ("newly passing", tests.newly_passing),
    ):
        if names:
            lines.append(f"  - {label} ({len(names)}):")
            lines += [f"    - {md_code(name)}" for name in names[:_SHOWN_TESTS]]
            if len(names) > _SHOWN_TESTS:
                lines.append(
                    f"    - \u2026 and {len(names) - _SHOWN_TESTS} more (`{final.slug}/ci/delta.json`)"
                )
    return lines


def pull_request_body(settings: ActionSettings, end: RunSummary) -> str:
    """What happened: outcome, attempts, duration, files changed, the test delta, and the links."""
    final, context = end.final, settings.context
    artifact = settings.names.runs_artifact
    run_link = (
        f"[workflow run {context.run_id}]({context.run_url})" if context.run_url else "this workflow run"
    )
    files = "-" if final.changed_files is None else str(final.changed_files)
    lines = [
        f"Run {md_code(final.run_id)} of batch {md_code(final.batch_id)}, by parallel-runs.",
        "",
        f"- Outcome: **{final.outcome.value}** (attempt {final.attempt}; "
        f"{len(end.attempts)} attempt(s) in this batch)",
        f"- Duration: {format_duration(final.duration_seconds)}",
        f"- Files changed: {files}",
        f"- Base: `{final.base_sha[:12]}`; branch `{final.branch}` at `{(final.head_sha or '')[:12]}`",
        *_tests(final),
        f"- Log: {run_link}; the run's output is `{final.slug}/run.log` in its artifact `{artifact}`",
        "",
        f"<!-- parallel-runs pull request: run {json.dumps(final.run_id)} -->",
    ]
    return "\n".join(lines) + "\n"


def _succeeded(result: BatchResult) -> list[RunSummary]:
    """The runs that succeeded with a change: GitHub opens no pull request without a commit to show."""
    runs = []
    for end in result.ends:
        if not isinstance(end, RunSummary) or end.final.outcome is not Outcome.SUCCEEDED:
            continue
        if end.final.head_sha and end.final.changed_files != 0:
            runs.append(end)
        else:
            say(f"run {end.run_id}: succeeded without a change: no pull request")
    return runs


def push_run_branches(settings: ActionSettings, repo: Path, branches: list[str]) -> str | None:
    """Push these run branches to origin with the action's token; the problem, if any."""
    from parallel_runs import git
    from parallel_runs.github.auth import push_config

    config = push_config(settings.token, settings.context.server_url) if settings.token else {}
    try:
        git.push_branches(repo, branches, remote="origin", config=config)
    except GitError as exc:
        return f"could not push the run branches to origin: {exc}"
    return None


def open_pull_requests(
    settings: ActionSettings,
    result: BatchResult,
    *,
    repo: Path,
    runs_dir: Path,
    redact: Callable[[str], str],
    pushed: bool = False,
) -> tuple[Opened, list[str]]:
    """Push and open (or update) one pull request per succeeded run of this leg; those opened, and the
    problems, each a warning (a 403 once: the token lacks the permission for every run alike)."""
    from parallel_runs.github.api import GithubApi, GithubApiError

    runs, context = _succeeded(result), settings.context
    if not runs:
        return [], []
    base = context.base_branch
    if not base:
        return [], ["no pull request opened: no base branch (GITHUB_REF_NAME is empty)"]
    # `pushed`: push-branches has just pushed every finished run's branch, these among them.
    if not pushed and (
        problem := push_run_branches(settings, repo, sorted({end.final.branch for end in runs}))
    ):
        return [], [f"no pull request opened: {problem}"]
    api = GithubApi(token=settings.token or "", repository=context.repository, api_url=context.api_url)
    opened: Opened = []
    problems: list[str] = []
    try:
        for end in runs:
            title = redact(run_title(runs_dir, end.final))
            body = redact(pull_request_body(settings, end))
            try:
                pull, action = api.open_pull_request(
                    head=end.final.branch,
                    base=base,
                    title=title,
                    body=body,
                    draft=settings.pull_requests == "draft",
                    label=LABEL,
                )
            except GithubApiError as exc:
                problems.append(f"run {end.run_id}: {exc}")
                if exc.status in (401, 403):
                    break
                continue
            say(f"run {end.run_id}: pull request #{pull.number} {action}: {pull.url}")
            opened.append((end.final, pull))
    finally:
        api.close()
    return opened, problems


def record_pull_requests(machine: WorkerSettings, opened: Opened) -> str | None:
    """Record each pull request on its run's attempt in the store the leg ran over; the problem, if any
    (a warning: the pull requests are open, only the dashboard and reports will not show them)."""
    from parallel_runs.batch.starting import open_machine_store

    try:
        store = open_machine_store(machine)
        try:
            for attempt, pull in opened:
                store.record_pull_request(attempt, pull)
        finally:
            store.close()
    except ParallelRunsError as exc:
        return f"the pull requests are open but could not be recorded in the store: {exc}"
    return None
