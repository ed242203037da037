"""The GitHub REST calls of the report (through PyGithub): one sticky PR comment, one check run.

Imported only by the action's report step: PyGithub takes a tenth of a second to import.

Every call goes to the API the runner names (GITHUB_API_URL), so GitHub Enterprise Server works.
PyGithub's errors become `GithubApiError`, naming the call and GitHub's status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from github import Auth, Github, GithubException
from requests import RequestException

from parallel_runs.core.model import PullRequest
from parallel_runs.errors import EXIT_FAILED, ParallelRunsError

if TYPE_CHECKING:
    from github.Repository import Repository

__all__ = [
    "CHECK_TEXT_LIMIT",
    "COMMENT_LIMIT",
    "GithubApi",
    "GithubApiError",
    "StickyResult",
]

log = logging.getLogger(__name__)

COMMENT_LIMIT = 65536  # characters GitHub accepts in a comment body
CHECK_TEXT_LIMIT = 65535  # characters of a check run's output summary
_TIMEOUT_SECONDS = 30


class GithubApiError(ParallelRunsError):
    """A GitHub API call failed; `status` is GitHub's HTTP status (None when it never answered)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class StickyResult:
    """What `post_sticky_comment` did: `created` or `updated`, and the comment's id."""

    action: str
    comment_id: int


class GithubApi:
    """One repository on one GitHub (or GitHub Enterprise Server) API, authenticated by a token."""

    def __init__(self, *, token: str, repository: str, api_url: str) -> None:
        self._client = Github(auth=Auth.Token(token), base_url=api_url, timeout=_TIMEOUT_SECONDS, lazy=True)
        self._repository = repository

    def _repo(self) -> Repository:
        return self._client.get_repo(self._repository, lazy=True)

    def post_sticky_comment(self, *, number: int, body: str, marker: str) -> StickyResult:
        """Edit the comment on PR `number` that holds `marker`, or create it: one comment, never two."""
        text = f"{marker}\n{body}"[:COMMENT_LIMIT]
        try:
            issue = self._repo().get_issue(number)
            for comment in issue.get_comments():
                if marker in (comment.body or ""):
                    comment.edit(text)
                    return StickyResult("updated", comment.id)
            created = issue.create_comment(text)
        except (GithubException, RequestException) as exc:
            raise _error(f"comment on pull request #{number}", exc) from None
        return StickyResult("created", created.id)

    def create_check_run(self, *, name: str, head_sha: str, conclusion: str, title: str, summary: str) -> int:
        """A completed check run on `head_sha` with the report as its output; its id."""
        try:
            run = self._repo().create_check_run(
                name=name,
                head_sha=head_sha,
                status="completed",
                conclusion=conclusion,
                output={"title": title[:255], "summary": summary[:CHECK_TEXT_LIMIT]},
            )
        except (GithubException, RequestException) as exc:
            raise _error("create the check run", exc) from None
        return int(run.id)

    def open_pull_request(
        self, *, head: str, base: str, title: str, body: str, draft: bool, label: str
    ) -> tuple[PullRequest, str]:
        """Update the open pull request of branch `head`, or open one against `base`: never two. The
        label is added either way (a re-run finds the same one by its head branch). It, and what was
        done: `created` or `updated`."""
        owner = self._repository.split("/", 1)[0]
        try:
            repo = self._repo()
            found = next(iter(repo.get_pulls(state="open", head=f"{owner}:{head}")), None)
            if found is not None:
                found.edit(title=title, body=body)
                pull, action = found, "updated"
            else:
                pull = repo.create_pull(base=base, head=head, title=title, body=body, draft=draft)
                action = "created"
            pull.add_to_labels(label)
        except (GithubException, RequestException) as exc:
            raise _error(f"open a pull request for {head}", exc) from None
        return PullRequest(int(pull.number), str(pull.html_url)), action

    def pull_requests(self, heads: set[str]) -> dict[str, PullRequest]:
        """The open pull requests of this repository whose head is one of the branches `heads`."""
        try:
            return {
                pull.head.ref: PullRequest(int(pull.number), str(pull.html_url))
                for pull in self._repo().get_pulls(state="open")
                if pull.head.ref in heads
                and (pull.head.repo is None or pull.head.repo.full_name == self._repository)
            }
        except (GithubException, RequestException) as exc:
            raise _error("list the pull requests", exc) from None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _error(what: str, exc: Exception) -> GithubApiError:
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    message = data.get("message") if isinstance(data, dict) else None
    hint = " (does the job grant the permission? see the README)" if status in (401, 403, 404) else ""
    code = status if isinstance(status, int) else None
    return GithubApiError(f"GitHub API: could not {what}: {status} {message or exc}{hint}", code)
