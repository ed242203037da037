"""Bringing a run's result onto the checkout's current branch: merge its run branch, cherry-pick its
commits, or apply its changes.patch. Whatever fails is undone: the checkout is left as it was."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from parallel_runs.errors import ConfigError, GitError
from parallel_runs.git.branches import is_merged
from parallel_runs.git.repository import resolve_commit
from parallel_runs.git.run_git import _git

__all__ = ["Applied", "ApplyMode", "apply_result", "current_branch", "has_branch"]

logger = logging.getLogger(__name__)


class ApplyMode(StrEnum):
    """How a run's result is brought onto the current branch."""

    MERGE = "merge"  # a merge commit of the run branch (its history kept)
    CHERRY_PICK = "cherry-pick"  # the run branch's commits, copied one by one
    PATCH = "patch"  # changes.patch applied to the index and working tree, not committed


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply_result` did."""

    head: str  # the checkout's HEAD afterwards
    files: tuple[str, ...]  # files it changed
    nothing_to_do: bool = False  # the result was already there


def has_branch(repo: Path, branch: str) -> bool:
    """Whether the branch exists in the repository."""
    return _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).status == 0


def current_branch(repo: Path) -> str:
    """The checkout's branch, or `detached HEAD`."""
    name = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).out.strip()
    return name or "detached HEAD"


def _changed_tracked_files(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes, staged or not (untracked files do not count)."""
    out = _git(repo, "status", "--porcelain", "--untracked-files=no").out
    return [line[3:] for line in out.splitlines() if line.strip()]


def _hidden_edits(repo: Path) -> list[str]:
    """Files flagged assume-unchanged or skip-worktree whose content differs from the index.

    `git status` does not show them, and a merge, cherry-pick or `git apply` overwrites them. A
    skip-worktree file that is not there (a sparse checkout) is not an edit; a deleted
    assume-unchanged one is.
    """
    flagged: dict[str, str] = {}
    edited: list[str] = []
    for entry in filter(None, _git(repo, "ls-files", "-v", "-s", "-z").out.split("\0")):
        tag, mode, blob, rest = entry.split(" ", 3)
        path = rest.split("\t", 1)[1]
        if not (tag.islower() or tag == "S") or mode == "160000":
            continue
        if os.path.lexists(repo / path):
            flagged[path] = blob
        elif tag.upper() != "S":
            edited.append(path)
    present = list(flagged)
    for start in range(0, len(present), 500):  # a few hundred paths per command line
        chunk = present[start : start + 500]
        hashed = _git(repo, "--literal-pathspecs", "hash-object", "--", *chunk).out.split()
        edited += [path for path, blob in zip(chunk, hashed, strict=True) if flagged[path] != blob]
    return sorted(edited)


def _ignored_in_the_way(repo: Path, branch: str) -> list[str]:
    """Files the run branch adds that the checkout already has, ignored: a merge would overwrite them."""
    added = ("diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", f"HEAD...refs/heads/{branch}")
    paths = filter(None, _git(repo, *added).out.split("\0"))
    return [path for path in paths if os.path.lexists(repo / path)]


def _files_between(repo: Path, old: str, new: str) -> tuple[str, ...]:
    return tuple(_git(repo, "diff", "--name-only", old, new).out.splitlines())


def _conflicts(repo: Path) -> str:
    files = _git(repo, "diff", "--name-only", "--diff-filter=U", check=False).out.split()
    return f"conflicts in {', '.join(files)}" if files else ""


def _refuse(doing: str, reason: str) -> ConfigError:
    return ConfigError(f"{doing} failed ({reason}); the checkout is as it was")


def _merge(repo: Path, branch: str) -> Applied:
    before = resolve_commit(repo, "HEAD")
    if is_merged(repo, f"refs/heads/{branch}"):
        return Applied(before, (), nothing_to_do=True)
    done = _git(repo, "merge", "--no-ff", "--no-edit", f"refs/heads/{branch}", check=False, as_user=True)
    if done.status:
        reason = _conflicts(repo) or _last_line(done.err or done.out)
        _git(repo, "merge", "--abort", check=False)
        raise _refuse(f"merging {branch}", reason)
    after = resolve_commit(repo, "HEAD")
    return Applied(after, _files_between(repo, before, after))


def _cherry_pick(repo: Path, branch: str) -> Applied:
    before = resolve_commit(repo, "HEAD")
    commits = _git(repo, "rev-list", "--reverse", "--no-merges", f"HEAD..refs/heads/{branch}").out.split()
    if not commits:
        return Applied(before, (), nothing_to_do=True)
    done = _git(repo, "cherry-pick", *commits, check=False, as_user=True)
    if done.status:
        reason = _conflicts(repo) or _last_line(done.err or done.out)
        _git(repo, "cherry-pick", "--abort", check=False)
        if resolve_commit(repo, "HEAD") != before:  # --abort puts HEAD back; make sure of it
            _git(repo, "reset", "--hard", "--quiet", before)
        raise _refuse(f"cherry-picking {len(commits)} commit(s) of {branch}", reason)
    after = resolve_commit(repo, "HEAD")
    return Applied(after, _files_between(repo, before, after))


def _apply_patch(repo: Path, patch: Path) -> Applied:
    head = resolve_commit(repo, "HEAD")
    if patch.stat().st_size == 0:
        return Applied(head, (), nothing_to_do=True)
    # --check first: `git apply` changes nothing when it fails, and says why.
    checked = _git(repo, "apply", "--index", "--check", str(patch), check=False)
    if checked.status:
        raise _refuse(f"applying {patch}", _last_line(checked.err))
    _git(repo, "apply", "--index", str(patch))
    files = _git(repo, "diff", "--cached", "--name-only").out.splitlines()
    return Applied(head, tuple(files))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
    return lines[-1] if lines else "git gave no reason"


def _check_checkout(repo: Path, mode: ApplyMode, branch: str) -> None:
    """Nothing of the user's can be overwritten; else ConfigError naming the files, before anything moves."""
    if dirty := _changed_tracked_files(repo):
        raise ConfigError(
            f"the checkout {repo} has uncommitted changes ({len(dirty)} file(s), e.g. {dirty[0]}): "
            "commit or stash them first"
        )
    if hidden := _hidden_edits(repo):
        raise ConfigError(
            f"the checkout {repo} has edits that git status does not show, in files marked assume-unchanged "
            f"or skip-worktree: {', '.join(hidden)}; `git update-index --no-assume-unchanged "
            "--no-skip-worktree FILE`, then commit or stash them first"
        )
    if mode is not ApplyMode.PATCH and (in_the_way := _ignored_in_the_way(repo, branch)):
        raise ConfigError(
            f"{branch} adds files that the checkout {repo} has, git-ignored: {', '.join(in_the_way)}; "
            f"move them away first ({mode.value} would overwrite them)"
        )


def apply_result(repo: Path, mode: ApplyMode, *, branch: str, patch: Path) -> Applied:
    """Bring the run's result onto the current branch; ConfigError, checkout untouched, when it cannot."""
    _check_checkout(repo, mode, branch)
    try:
        if mode is ApplyMode.PATCH:
            return _apply_patch(repo, patch)
        return _merge(repo, branch) if mode is ApplyMode.MERGE else _cherry_pick(repo, branch)
    except GitError as exc:
        raise _refuse(f"{mode.value} of {branch}", str(exc)) from exc
