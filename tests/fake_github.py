"""A local stand-in for the GitHub REST API (a test helper): the few endpoints the report uses.

List, create and edit issue comments, create a check run, and list, open and edit pull requests
(with their labels), under a GitHub Enterprise Server
style prefix (`/api/v3`), answering with the JSON GitHub sends. Every request is recorded, so a
test can assert what PyGithub sent. `forbid` makes an endpoint answer 403 as GitHub does when the
token lacks the permission.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

PREFIX = "/api/v3"
_COMMENTS = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments")
_COMMENT = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)")
_CHECK_RUNS = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/check-runs")
_PULLS = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/pulls")
_PULL = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)")
_LABELS = re.compile(rf"{PREFIX}/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/labels")


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    body: Any
    authorization: str


@dataclass
class FakeGithub:
    """The server's state: comments per issue, check runs, and every request."""

    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> pull request
    forbid: set[str] = field(default_factory=set)  # "check-runs", "comments", "pulls"
    _next_id: int = 1000

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every request that changed something."""
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def pull_json(self, pull: dict[str, Any]) -> dict[str, Any]:
        repo, number = pull["repo"], pull["number"]
        owner = repo.split("/")[0]
        repository = {"id": 1296269, "full_name": repo, "name": repo.split("/")[1], "owner": {"login": owner}}
        return {
            "id": 5000 + number,
            "number": number,
            "state": "open",
            "title": pull["title"],
            "body": pull["body"],
            "draft": pull["draft"],
            "url": f"{self.base_url}/repos/{repo}/pulls/{number}",
            "issue_url": f"{self.base_url}/repos/{repo}/issues/{number}",
            "html_url": f"https://github.example/{repo}/pull/{number}",
            "head": {
                "label": f"{owner}:{pull['head']}",
                "ref": pull["head"],
                "sha": "1" * 40,
                "repo": repository,
            },
            "base": {
                "label": f"{owner}:{pull['base']}",
                "ref": pull["base"],
                "sha": "2" * 40,
                "repo": repository,
            },
            "labels": [{"id": 1, "name": name} for name in pull["labels"]],
            "user": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
        }

    def comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        repo, number, comment_id = comment["repo"], comment["number"], comment["id"]
        return {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.base_url}/repos/{repo}/issues/comments/{comment_id}",
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self.base_url}/repos/{repo}/issues/{number}",
            "body": comment["body"],
            "user": {"login": comment["user"], "id": 41898282, "type": "Bot"},
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:04:05Z",
            "author_association": "NONE",
        }


class _Handler(BaseHTTPRequestHandler):
    """Answers from, and records into, `state` (set on a subclass per server)."""

    state: FakeGithub

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `self.state.requests`."""

    def _answer(self, status: int, document: object) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?", 1)[0]
        self.state.requests.append(Request(self.command, path, body, self.headers.get("Authorization", "")))
        return path, body

    def _forbidden(self, what: str) -> bool:
        if what in self.state.forbid:
            self._answer(403, {"message": "Resource not accessible by integration", "status": "403"})
            return True
        return False

    def _query(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in self.path.partition("?")[2].split("&") if "=" in pair)

    def _list_pulls(self, repo: str) -> None:
        if self._forbidden("pulls"):
            return
        head = unquote(self._query().get("head", ""))
        found = [
            self.state.pull_json(p)
            for p in self.state.pulls.values()
            if p["repo"] == repo and (not head or f"{repo.split('/', maxsplit=1)[0]}:{p['head']}" == head)
        ]
        self._answer(200, found)

    def _create_pull(self, repo: str, body: dict[str, Any]) -> None:
        if self._forbidden("pulls"):
            return
        number = len(self.state.pulls) + 1
        pull = {"repo": repo, "number": number, "labels": [], "draft": bool(body.get("draft"))}
        pull |= {key: body[key] for key in ("title", "body", "head", "base")}
        self.state.pulls[number] = pull
        self._answer(201, self.state.pull_json(pull))

    def do_GET(self) -> None:
        path, _ = self._record()
        if match := _PULLS.fullmatch(path):
            self._list_pulls(match["repo"])
        elif match := _COMMENTS.fullmatch(path):
            number = int(match["number"])
            found = [
                self.state.comment_json(c) for c in self.state.comments.values() if c["number"] == number
            ]
            self._answer(200, found)
        else:
            self._answer(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        path, body = self._record()
        if match := _PULLS.fullmatch(path):
            self._create_pull(match["repo"], body)
        elif (match := _LABELS.fullmatch(path)) and int(match["number"]) in self.state.pulls:
            labels = self.state.pulls[int(match["number"])]["labels"]
            labels.extend(name for name in body if name not in labels)
            self._answer(200, [{"id": 1, "name": name} for name in labels])
        elif (match := _COMMENTS.fullmatch(path)) and not self._forbidden("comments"):
            comment = {
                "id": self.state.new_id(),
                "repo": match["repo"],
                "number": int(match["number"]),
                "body": body["body"],
                "user": "github-actions[bot]",
            }
            self.state.comments[comment["id"]] = comment
            self._answer(201, self.state.comment_json(comment))
        elif (match := _CHECK_RUNS.fullmatch(path)) and not self._forbidden("check-runs"):
            run = {
                "id": self.state.new_id(),
                **body,
                "url": f"{self.state.base_url}/repos/{match['repo']}/check-runs",
            }
            self.state.check_runs.append(run)
            self._answer(201, run)
        elif not (_COMMENTS.fullmatch(path) or _CHECK_RUNS.fullmatch(path)):
            self._answer(404, {"message": "Not Found"})

    def do_PATCH(self) -> None:
        path, body = self._record()
        if (pull := _PULL.fullmatch(path)) and int(pull["number"]) in self.state.pulls:
            if self._forbidden("pulls"):
                return
            found = self.state.pulls[int(pull["number"])]
            found |= {key: body[key] for key in ("title", "body") if key in body}
            self._answer(200, self.state.pull_json(found))
            return
        match = _COMMENT.fullmatch(path)
        if match is None or int(match["id"]) not in self.state.comments:
            self._answer(404, {"message": "Not Found"})
            return
        comment = self.state.comments[int(match["id"])]
        comment["body"] = body["body"]
        self._answer(200, self.state.comment_json(comment))


@contextmanager
def fake_github() -> Iterator[FakeGithub]:
    """The fake API on a free local port; `base_url` is what GITHUB_API_URL should say."""
    state = FakeGithub()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
