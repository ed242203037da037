"""Where each run's change is, for the job summary and the sticky comment: its pull request, or, with
neither pull requests nor pushed branches, its `changes.patch` (in the leg's artifact, or in the
shared store) and the command that applies it locally. The run branches themselves lived only on
the legs' runners.

Each leg writes `<runs dir>/.legs/leg-<K>.json` (its artifact's name and the runs it worked), which
its artifact carries to the report.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from parallel_runs.files import write_json
from parallel_runs.github.action.settings import ActionSettings
from parallel_runs.report.markdown import md_code, md_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from parallel_runs.batch.result import BatchResult
    from parallel_runs.report import RunRow

__all__ = ["LEGS_DIR", "changes_block", "write_leg_manifest"]

LEGS_DIR = ".legs"
_SHOWN = 100  # runs listed; the rest are counted


def write_leg_manifest(settings: ActionSettings, result: BatchResult, runs_dir: Path) -> None:
    """Record which runs this leg worked and the artifact that carries their files."""
    document = {"artifact": settings.names.runs_artifact, "runs": [end.run_id for end in result.ends]}
    write_json(runs_dir / LEGS_DIR / f"leg-{settings.names.leg}.json", document)


def _leg_artifacts(downloads: Path) -> dict[str, str]:
    """Run id -> the artifact of the leg that worked it, from the downloaded legs' manifests."""
    found: dict[str, str] = {}
    for path in sorted((downloads / LEGS_DIR).glob("leg-*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            found |= {str(run_id): str(document["artifact"]) for run_id in document["runs"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a manifest the leg could not finish: its runs are named by the pattern
    return found


def _name(row: RunRow) -> str:
    title = f" {md_text(row.title)}" if row.title else ""
    return f"{md_code(row.latest.run_id)}{title}"


def _listed(rows: Sequence[RunRow], lines: list[str]) -> list[str]:
    more = len(rows) - _SHOWN
    return lines[:_SHOWN] + ([f"- \u2026 and {more} more runs"] if more > 0 else [])


def _pull_request_lines(settings: ActionSettings, rows: Sequence[RunRow], problems: list[str]) -> list[str]:
    from parallel_runs.github.api import GithubApi, GithubApiError

    context = settings.context
    api = GithubApi(token=settings.token or "", repository=context.repository, api_url=context.api_url)
    try:
        pulls = api.pull_requests({row.latest.branch for row in rows})
    except GithubApiError as exc:
        problems.append(str(exc))
        return []
    finally:
        api.close()
    lines = []
    for row in rows:
        pull = pulls.get(row.latest.branch)
        where = f"[#{pull.number}]({pull.url})" if pull else f"no pull request ({row.latest.outcome.value})"
        lines.append(f"- {_name(row)}: {where}")
    return ["#### Pull requests", "", *_listed(rows, lines)]


def _patch_lines(settings: ActionSettings, rows: Sequence[RunRow]) -> list[str]:
    context, names = settings.context, settings.names
    lines = []
    if settings.database_url:
        for row in rows:
            run, slug = row.latest.run_id, row.latest.slug
            get = (
                f"parallel-runs artifacts get {shlex.quote(run)} changes.patch --batch "
                f'{shlex.quote(settings.batch_id)} --database-url "$DATABASE_URL" -o {slug}.patch'
            )
            apply = md_code(f"{get} && git apply {slug}.patch")
            lines.append(f"- {_name(row)}: `changes.patch` in the shared store: {apply}")
        return ["#### Where the changes are", "", *_listed(rows, lines)]
    artifacts = _leg_artifacts(names.downloads)
    for row in rows:
        slug = row.latest.slug
        artifact = artifacts.get(row.latest.run_id, names.runs_pattern)
        fetch = f"gh run download {context.run_id or '<run id>'} -n {artifact} -D {artifact}"
        apply = md_code(f"{fetch} && git apply {artifact}/{slug}/changes.patch")
        lines.append(f"- {_name(row)}: `{slug}/changes.patch` in artifact `{artifact}`: {apply}")
    return ["#### Where the changes are", "", *_listed(rows, lines)]


def changes_block(settings: ActionSettings, rows: Sequence[RunRow], problems: list[str]) -> str:
    """The markdown saying where each run's change is ("" when the branches were pushed); a problem
    looking up the pull requests goes to `problems` (a warning) and the patches are named instead."""
    if not rows or (settings.push_branches and settings.pull_requests == "none"):
        return ""
    lines: list[str] = []
    if settings.pull_requests != "none":
        if settings.token and settings.context.repository:
            lines = _pull_request_lines(settings, rows, problems)
        else:
            problems.append("pull-requests: without github-token the report cannot find the pull requests")
    return "\n".join(lines or _patch_lines(settings, rows)) + "\n"
