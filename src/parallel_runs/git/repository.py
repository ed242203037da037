"""Questions about a repository (its root, git dir, commits) and its refs and throwaway worktrees."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from parallel_runs import testing_faults
from parallel_runs.core.layout import ATTEMPT_REF_PREFIX, attempt_ref
from parallel_runs.errors import GitError
from parallel_runs.git.ref_files import may_have_refs
from parallel_runs.git.run_git import _git

__all__ = [
    "common_git_dir",
    "detached_worktree",
    "ensure_commit",
    "ensure_excluded",
    "excluded_directory",
    "keep_unless_contained",
    "last_attempt_ref_number",
    "locked_exclude_file",
    "repo_root",
    "resolve_commit",
    "tracked_files_under",
]

logger = logging.getLogger(__name__)


def repo_root(path: Path) -> Path:
    """Absolute top level of the working tree containing `path` (a linked worktree's own root)."""
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        raise GitError(f"not a git repository: {path} does not exist")
    result = _git(start, "rev-parse", "--show-toplevel", check=False)
    if result.status == 0 and result.out.strip():
        return Path(result.out.strip())
    # `core.bare = true` in a checkout's shared config (a run may have set it from its worktree)
    # hides the work tree from git, though the checkout is there: find it by its .git directory.
    common = _git(start, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False).out.strip()
    if common.endswith("/.git") and start.resolve().is_relative_to(Path(common).parent):
        logger.warning(
            "%s says core.bare = true, yet it has a work tree; `git config core.bare false` fixes it", common
        )
        return Path(common).parent
    raise GitError(f"not a git repository (or not a working tree): {path}")


@lru_cache(maxsize=64)
def common_git_dir(repo: Path) -> Path:
    """The git dir shared by all worktrees of `repo` (where refs, worktrees/ and info/ live)."""
    out = _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").out.strip()
    return Path(out)


def resolve_commit(repo: Path, ref: str) -> str:
    """Full sha of the commit `ref` names."""
    result = _git(
        repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    if result.status or not result.out.strip():
        raise GitError(f"{ref!r} does not name a commit in {repo} (unknown ref, or no commits yet)")
    return result.out.strip()


@lru_cache(maxsize=64)
def tree_of_commit(repo: Path, sha: str) -> str:
    """The tree of the commit `sha` (full sha): a commit's tree never changes, so it is asked once."""
    return _git(repo, "rev-parse", "--verify", "--end-of-options", f"{sha}^{{tree}}").out.strip()


def ensure_commit(repo: Path, sha: str) -> str:
    """The commit `sha` in this clone, fetched from `origin` if missing; GitError if it cannot be had."""
    try:
        return resolve_commit(repo, sha)
    except GitError:
        fetched = _git(repo, "fetch", "--quiet", "origin", sha, check=False)
        if fetched.status:
            reason = fetched.err.strip().splitlines()[-1] if fetched.err.strip() else "fetch failed"
            raise GitError(
                f"commit {sha[:12]} is not in the clone {repo} and could not be fetched ({reason})"
            ) from None
        return resolve_commit(repo, sha)


def changed_files(repo: Path) -> int:
    """How many files of the checkout differ from its HEAD (tracked and untracked, not ignored)."""
    out = _git(repo, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=normal").out
    entries, count, position = out.split("\0"), 0, 0
    while position < len(entries) and entries[position]:
        # A rename or copy is followed by its old path, which is not another changed file.
        position += 2 if entries[position][:1] in ("R", "C") else 1
        count += 1
    return count


def is_on_origin(repo: Path, sha: str) -> bool | None:
    """Whether a branch of `origin` (as last fetched) contains the commit; None without an origin."""
    if _git(repo, "remote", "get-url", "origin", check=False).status:
        return None
    return bool(_git(repo, "for-each-ref", "--contains", sha, "--count=1", "refs/remotes/origin").out.strip())


def tracked_files_under(repo: Path, path: Path) -> list[str]:
    """Files git tracks in `repo` at or below `path` (all of them when `path` holds the checkout)."""
    root, target = Path(os.path.realpath(repo)), Path(os.path.realpath(path))
    if not target.is_relative_to(root) and not root.is_relative_to(target):
        return []
    where = target.relative_to(root).as_posix() if target.is_relative_to(root) else "."
    listing = _git(repo, "--literal-pathspecs", "ls-files", "-z", "--", where).out
    return [name for name in listing.split("\0") if name]


def ensure_excluded(repo: Path, path: Path) -> None:
    """Add `path` to the repository's info/exclude when it lies inside its working tree."""
    root, target = Path(os.path.realpath(repo)), Path(os.path.realpath(path))
    if target == root or not target.is_relative_to(root):
        return
    line = "/" + re.sub(r"([\\*?\[])", r"\\\1", target.relative_to(root).as_posix()) + "/"
    exclude = common_git_dir(repo) / "info" / "exclude"
    with locked_exclude_file(exclude) as fd:
        content = exclude.read_bytes()
        if line.encode() in (existing.strip() for existing in content.splitlines()):
            return
        separator = b"\n" if content and not content.endswith(b"\n") else b""
        os.write(fd, separator + line.encode() + b"\n")
        logger.info("added %s to %s", line, exclude)


def excluded_directory(repo: Path, line: str) -> Path | None:
    """The directory of `repo` that an info/exclude line written by ensure_excluded names, if it is one."""
    written = re.fullmatch(r"/(.+)/", line)
    return Path(repo, re.sub(r"\\(.)", r"\1", written.group(1))) if written else None


@contextmanager
def locked_exclude_file(exclude: Path) -> Iterator[int]:
    """info/exclude opened for appending (created if missing) under an exclusive lock."""
    exclude.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(exclude, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # The lock makes read-check-write atomic across processes; O_APPEND keeps lines whole.
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _refs(repo: Path, *patterns: str) -> dict[str, str]:
    out = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)", *patterns).out
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def _attempt_numbers(refs: dict[str, str], slug: str) -> list[int]:
    prefix = f"{ATTEMPT_REF_PREFIX}{slug}/"
    tails = (name.removeprefix(prefix) for name in refs if name.startswith(prefix))
    return [int(tail) for tail in tails if tail.isdigit()]


def last_attempt_ref_number(repo: Path, slug: str) -> int:
    """Highest n among refs/parallel-runs/attempts/<slug>/<n>; 0 when there is none."""
    prefix = f"{ATTEMPT_REF_PREFIX}{slug}/"
    if not may_have_refs(common_git_dir(repo), prefix):  # the usual case, known without a git process
        return 0
    return max(_attempt_numbers(_refs(repo, prefix), slug), default=0)


def keep_unless_contained(repo: Path, *, slug: str, tip: str, head: str, attempt: int) -> bool:
    """Keep `tip` under attempt `attempt`'s ref unless `head` contains it (True if it had to be kept).

    For a commit a save recorded that the branch may have lost since: a kept worktree's branch
    reset or amended behind it. A `tip` unknown here (saved on another machine) is left alone.
    """
    probe = _git(repo, "merge-base", "--is-ancestor", tip, head, check=False)
    if probe.status != 1:  # 0: contained; 128: not a commit of this repository
        return False
    _keep_tip(repo, slug=slug, tip=tip, preferred=attempt)
    return True


def _keep_tip(repo: Path, *, slug: str, tip: str, preferred: int) -> None:
    """Keep `tip` reachable under an attempt ref: `preferred` if free, else the next number."""
    if testing_faults.is_broken("keep-tip"):  # chaos-proof only: displaced commits are dropped
        return
    refs = _refs(repo, f"{ATTEMPT_REF_PREFIX}{slug}/")
    if tip in refs.values():
        return
    number = preferred
    if number < 1 or attempt_ref(slug, number) in refs:
        number = max(_attempt_numbers(refs, slug), default=0) + 1
    ref = attempt_ref(slug, number)
    _git(repo, "update-ref", "-m", "parallel-runs: keep earlier tip", ref, tip, "")
    logger.info("kept %s of %s as %s", tip[:12], slug, ref)


def _discard_worktree(repo: Path, path: Path) -> None:
    """Force-remove a throwaway worktree (registered or not), whatever it contains."""
    if not (path.exists() or path.is_symlink()):
        return  # a registration left without its directory is overridden by `worktree add --force`
    _git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists() or path.is_symlink():  # not a registered worktree, or git left files behind
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        _git(repo, "worktree", "prune")  # forget its registration, now that the directory is gone


@contextmanager
def detached_worktree(repo: Path, path: Path, sha: str) -> Iterator[Path]:
    """A clean checkout of `sha` at `path` (detached HEAD, no branch), force-removed on exit.

    For throwaway work such as a test baseline; the caller must own `path` exclusively (a lock):
    whatever an earlier, crashed owner left there is removed first.
    """
    _discard_worktree(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "worktree", "add", "--detach", "--force", "--quiet", str(path), sha)
    try:
        yield path
    finally:
        _discard_worktree(repo, path)
