"""One workflow run of the action in the step harness: plan → legs (concurrent processes) → report.

A test helper, like the reusable workflow in miniature: every job gets its own RUNNER_TEMP, legs run
in the clones they are given, and all jobs share the run's artifacts.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.action_harness import ActionResult, Job

REPOSITORY = "octo-org/octo-repo"


def pull_request_event(number: int, head_sha: str) -> dict[str, object]:
    """A `pull_request` webhook payload shaped like GitHub's (the fields consumers read, and more)."""
    repo = {
        "id": 1296269,
        "name": "octo-repo",
        "full_name": REPOSITORY,
        "private": False,
        "owner": {"login": "octo-org", "id": 1, "type": "Organization"},
        "html_url": f"https://github.com/{REPOSITORY}",
        "default_branch": "main",
    }
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{REPOSITORY}/pulls/{number}",
            "id": 1,
            "number": number,
            "state": "open",
            "title": "Try the batch `$(touch /tmp/pwned)`",
            "user": {"login": "octocat", "id": 583231, "type": "User"},
            "body": "Runs the batch",
            "html_url": f"https://github.com/{REPOSITORY}/pull/{number}",
            "head": {"label": "octocat:topic", "ref": "topic", "sha": head_sha, "repo": repo},
            "base": {"label": "octo-org:main", "ref": "main", "sha": "0" * 40, "repo": repo},
            "draft": False,
            "merged": False,
        },
        "before": "1" * 40,
        "after": head_sha,
        "repository": repo,
        "sender": {"login": "octocat", "id": 583231, "type": "User"},
    }


@dataclass
class Workflow:
    """One workflow run: its id, its artifacts, and the environment every job shares."""

    root: Path
    run_id: str = field(default_factory=lambda: str(secrets.randbelow(10**9)))
    run_attempt: str = "1"  # a re-run of the workflow run: the same run_id, the next attempt
    event_name: str = "workflow_dispatch"
    event: dict[str, object] = field(default_factory=dict)
    api_url: str = "https://api.github.com"
    extra_env: dict[str, str] = field(default_factory=dict)
    _jobs: int = 0

    @property
    def cache(self) -> Path:
        """actions/cache's store of the repository (every job of the run shares it)."""
        return self.root / "cache"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def job(self, workspace: Path, name: str = "batch") -> Job:
        """A fresh runner for one job, checked out at `workspace`."""
        self._jobs += 1
        temp = self.root / f"runner-{self._jobs}"
        home = temp / "home"
        home.mkdir(parents=True)
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(self.event))
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_RUN_ATTEMPT": self.run_attempt,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_WORKFLOW": "parallel-runs",
            "GITHUB_JOB": name,
            "GITHUB_SHA": "f" * 40,
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": self.api_url,
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "HOME": str(home),
            **self.extra_env,
        }
        self.artifacts.mkdir(exist_ok=True)
        return Job(workspace=workspace, runner_temp=temp, artifacts=self.artifacts, env=env, cache=self.cache)

    def legs(self, workspaces: list[Path], inputs: dict[str, str], plan: ActionResult) -> list[ActionResult]:
        """Every leg of `plan`'s matrix at once, leg K in workspaces[(K - 1) % len(workspaces)].

        Legs sharing a clone get a runs dir each (.autonomous_runs-leg-K, hidden like the default),
        as they would on their own runners.
        """
        legs = json.loads(plan.outputs["matrix"])["leg"]
        jobs = [self.job(workspaces[(leg - 1) % len(workspaces)], name="run") for leg in legs]
        common = inputs | {
            "mode": "run",
            "batch-id": plan.outputs["batch-id"],
            "base-ref": plan.outputs["base-sha"],
            "legs": str(len(legs)),
        }
        with ThreadPoolExecutor(len(jobs)) as pool:
            running = [
                pool.submit(job.run, common | {"leg": str(leg), "runs-dir": f".autonomous_runs-leg-{leg}"})
                for job, leg in zip(jobs, legs, strict=True)
            ]
            return [future.result() for future in running]


def table_rows(summary: str) -> list[tuple[str, str]]:
    """(run, status) of each row of the runs table in a job summary."""
    rows = []
    for line in summary.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) > 2:
            rows.append((cells[0].strip("`"), cells[1].split()[-1]))
    return rows
