"""Worktrees and run branches: the only module that runs git (through GitPython).

Commands run as `git -C <dir> -c ...`, ignoring the user's hooks, signing, auto-gc and hidden
untracked files; lock contention between concurrent runs is retried, anything else is a GitError.
Saving keeps everything the run wrote: its own commits; uncommitted tracked and untracked (not
ignored) files, committed on the worktree's HEAD; a detached HEAD or switched branch becomes the
run branch's head (HEAD is re-attached; displaced run-branch commits keep an attempt ref); an
unfinished merge/rebase is committed as the files stand, conflict markers included. A nested
repository is left out of the commit and stays untracked, so `remove()` refuses to delete it.
Removal discards ignored files.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from git.cmd import Git
from git.exc import CommandError

from parallel_runs.core.layout import ATTEMPT_REF_PREFIX, RunPaths, attempt_ref
from parallel_runs.core.model import Outcome
from parallel_runs.errors import GitError

__all__ = [
    "WorkspaceManager",
    "WorktreeInfo",
    "common_git_dir",
    "detached_worktree",
    "ensure_commit",
    "ensure_excluded",
    "last_attempt_ref_number",
    "list_managed_worktrees",
    "repo_root",
    "resolve_commit",
]

logger = logging.getLogger(__name__)

_GIT = Git()
_CONFIG = (
    *("core.hooksPath=/dev/null", "commit.gpgSign=false", "maintenance.auto=false", "gc.auto=0"),
    "branch.autoSetupMerge=false",  # no config.lock contention, no upstream for run branches
    "status.showUntrackedFiles=normal",  # also for the status `git worktree remove` runs
)
_SETTINGS = tuple(arg for setting in _CONFIG for arg in ("-c", setting))
_FALLBACK_IDENTITY = ("-c", "user.name=parallel-runs", "-c", "user.email=parallel-runs@localhost")
_PATCH_OPTIONS = (
    *("--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--submodule=short"),
    *("--src-prefix=a/", "--dst-prefix=b/"),
)
# Lock files held by a concurrent git, and git listing worktrees while another one is being
# added or removed (a half-written or vanishing .git/worktrees/<id>).
_TRANSIENT = re.compile(
    r"\.lock'?: File exists|Unable to create '[^']*\.lock'|could not lock config file|"
    r"Another git process seems to be running|failed to read \S*worktrees/|"
    r"Invalid path '[^']*/worktrees/[^']*': No such file"
)
_NO_IDENTITY = re.compile(r"identity unknown|empty ident|auto-detect|auto-detection is disabled")
_UNBORN_NESTED = re.compile(r"does not have a commit checked out")
_EMBEDDED = re.compile(r"^warning: adding embedded git repository: (.+)$", re.MULTILINE)
_STALE_REGISTRATION = re.compile(r"missing but already registered|already checked out at|used by worktree at")
_RETRIES = 10


@dataclass(frozen=True, slots=True)
class _Result:
    status: int
    out: str
    err: str


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One worktree under the runs dir, as `git worktree list` reports it."""

    path: Path
    slug: str
    branch: str | None  # short name; None when detached
    head: str | None  # None when unborn
    is_prunable: bool = False


def _failure(args: tuple[str, ...], cwd: Path, err: str, status: int) -> GitError:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("hint:")]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
    reason = reasons[-1] if reasons else f"exit status {status}"
    return GitError(f"git {_name(args)} failed in {cwd}: {reason}")


def _name(args: tuple[str, ...]) -> str:
    """The subcommand in `args`, skipping global options and `-c` values."""
    return next((arg for arg in args if not arg.startswith("-") and "=" not in arg), "?")


def _git(
    cwd: Path,
    *args: str,
    check: bool = True,
    stdout: BinaryIO | None = None,
    env: dict[str, str] | None = None,
) -> _Result:
    """Run one git command, retrying only transient lock-file contention."""
    argv = [Git.GIT_PYTHON_GIT_EXECUTABLE, "-C", str(cwd), *_SETTINGS, *args]
    for attempt in range(_RETRIES):
        try:
            status, out, err = _GIT.execute(
                argv, with_extended_output=True, with_exceptions=False, output_stream=stdout, env=env
            )
        except CommandError as exc:  # git missing or not executable
            raise GitError(f"cannot run git: {exc}") from exc
        transient = None if status == 0 or stdout is not None else _TRANSIENT.search(err)
        if transient is None:
            break
        delay = min(0.4, 0.01 * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter only
        logger.debug("git %s in %s: %r; retrying in %.3fs", _name(args), cwd, transient.group(0), delay)
        time.sleep(delay)
    if status and check:
        raise _failure(args, cwd, err, status)
    return _Result(status, out, err)


def repo_root(path: Path) -> Path:
    """Absolute top level of the working tree containing `path` (a linked worktree's own root)."""
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        raise GitError(f"not a git repository: {path} does not exist")
    result = _git(start, "rev-parse", "--show-toplevel", check=False)
    if result.status or not result.out.strip():
        raise GitError(f"not a git repository (or not a working tree): {path}")
    return Path(result.out.strip())


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


def ensure_excluded(repo: Path, path: Path) -> None:
    """Add `path` to the repository's info/exclude when it lies inside its working tree."""
    root, target = Path(os.path.realpath(repo)), Path(os.path.realpath(path))
    if target == root or not target.is_relative_to(root):
        return
    line = "/" + re.sub(r"([\\*?\[])", r"\\\1", target.relative_to(root).as_posix()) + "/"
    exclude = common_git_dir(repo) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(exclude, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # The lock makes read-check-append atomic across processes; O_APPEND keeps lines whole.
        fcntl.flock(fd, fcntl.LOCK_EX)
        content = exclude.read_bytes()
        if line.encode() in (existing.strip() for existing in content.splitlines()):
            return
        separator = b"\n" if content and not content.endswith(b"\n") else b""
        os.write(fd, separator + line.encode() + b"\n")
        logger.info("added %s to %s", line, exclude)
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
    return max(_attempt_numbers(_refs(repo, f"{ATTEMPT_REF_PREFIX}{slug}/"), slug), default=0)


def _keep_tip(repo: Path, *, slug: str, tip: str, preferred: int) -> None:
    """Keep `tip` reachable under an attempt ref: `preferred` if free, else the next number."""
    refs = _refs(repo, f"{ATTEMPT_REF_PREFIX}{slug}/")
    if tip in refs.values():
        return
    number = preferred
    if number < 1 or attempt_ref(slug, number) in refs:
        number = max(_attempt_numbers(refs, slug), default=0) + 1
    ref = attempt_ref(slug, number)
    _git(repo, "update-ref", "-m", "parallel-runs: keep earlier tip", ref, tip, "")
    logger.info("kept %s of %s as %s", tip[:12], slug, ref)


def list_managed_worktrees(repo: Path, runs_dir: Path) -> list[WorktreeInfo]:
    """Worktrees of `repo` that live directly under `runs_dir`/workspaces."""
    home = Path(os.path.realpath(runs_dir / "workspaces"))
    infos = []
    for record in _git(repo, "worktree", "list", "--porcelain", "-z").out.split("\0\0"):
        fields = dict(item.partition(" ")[::2] for item in record.split("\0") if item)
        if "worktree" not in fields or Path(fields["worktree"]).parent != home:
            continue
        path = Path(fields["worktree"])
        branch = fields.get("branch", "").removeprefix("refs/heads/") or None
        prunable = "prunable" in fields
        infos.append(WorktreeInfo(path, path.name, branch, fields.get("HEAD"), is_prunable=prunable))
    return infos


class WorkspaceManager:
    """One run's worktree and its run branch: create, save, remove."""

    def __init__(self, *, repo: Path, paths: RunPaths) -> None:
        self.repo = repo
        self.paths = paths
        self.workspace = paths.workspace
        self.branch_ref = f"refs/heads/{paths.branch}"
        self._has_unsaved_nested_repos = False  # set by save_changes: then removal must not be forced

    def _is_worktree(self) -> bool:
        return (self.workspace / ".git").exists()

    def _is_registered(self) -> bool:
        target = os.path.realpath(self.workspace / ".git")
        for gitdir in (common_git_dir(self.repo) / "worktrees").glob("*/gitdir"):
            try:
                if os.path.realpath(gitdir.read_text().strip()) == target:
                    return True
            except OSError:  # being removed concurrently
                continue
        return False

    def exists(self) -> bool:
        """True when the worktree directory exists or git still has it registered."""
        return self.workspace.exists() or self._is_registered()

    def is_dirty(self) -> bool:
        """True when the worktree has tracked changes or untracked, non-ignored files."""
        if not self._is_worktree():
            return False
        status = ("--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=normal")
        return bool(_git(self.workspace, *status, "--ignore-submodules=none").out)

    def create(self, *, base_sha: str, attempt: int) -> Path:
        """Check out `base_sha` in a new worktree on the run branch; return its path."""
        if self.workspace.exists() and (not self.workspace.is_dir() or any(self.workspace.iterdir())):
            raise GitError(f"worktree {self.workspace} already exists: save and remove it first")
        # Optimistic: a first attempt needs one git call; `-b` refuses when the branch exists.
        result = self._add("-b", base_sha)
        if result.status and "a branch named" in result.err:
            tip = _refs(self.repo, self.branch_ref).get(self.branch_ref)
            if tip and tip != base_sha:  # an earlier attempt's work: keep it before the reset
                _keep_tip(self.repo, slug=self.paths.slug, tip=tip, preferred=attempt - 1)
            result = self._add("-B", base_sha)
        if result.status:
            raise _failure(("worktree",), self.repo, result.err, result.status)
        logger.debug("created %s at %s", self.workspace, base_sha[:12])
        return self.workspace

    def _add(self, mode: str, base_sha: str) -> _Result:
        # Parallel checkout (one worker per CPU) makes creation faster than a plain `worktree add`.
        add = ("-c", "checkout.workers=0", "worktree", "add", "--quiet")
        args = (*add, mode, self.paths.branch, str(self.workspace), base_sha)
        result = _git(self.repo, *args, check=False)
        if result.status and _STALE_REGISTRATION.search(result.err):
            # A worktree whose directory vanished still holds the path or branch: nothing to lose.
            _git(self.repo, "worktree", "prune")
            result = _git(self.repo, *args, check=False)
        return result

    def save_changes(self, *, run_id: str, attempt: int, outcome: Outcome | str, base_sha: str) -> str | None:
        """Commit every change to the run branch, write changes.patch; return the branch head."""
        if not self._is_worktree():
            logger.warning("cannot save %s: its worktree %s is gone", run_id, self.workspace)
            return None
        # Independent steps overlap: git's start-up time is most of what small commands cost.
        with ThreadPoolExecutor(max_workers=1) as pool:
            probe = ("rev-parse", "--absolute-git-dir", "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD")
            state = pool.submit(_git, self.workspace, *probe)
            self._stage_all()
            gitdir, head, head_tree, head_ref = state.result().out.split("\n")
            tree = self._write_tree(Path(gitdir))
            patch = pool.submit(self._write_patch, base_sha, tree)  # the same diff as to the commit
            subject = f"parallel-runs: {run_id} attempt {attempt} {outcome}"
            trailers = f"Parallel-Runs-Run-Id: {run_id}\nParallel-Runs-Attempt: {attempt}\n"
            message = (subject, f"{trailers}Parallel-Runs-Outcome: {outcome}")
            new = head if tree == head_tree else self._commit(tree, parent=head, message=message)
            if head_ref != self.branch_ref:
                self._adopt(new, subject=subject, was=head_ref)
            elif new != head:
                _git(self.workspace, "update-ref", "-m", subject, "HEAD", new, head)
            patch.result()
        return new

    def _commit(self, tree: str, *, parent: str, message: tuple[str, str]) -> str:
        """A commit of `tree`; git's identity, else a fallback one when git has none."""
        commit = ("commit-tree", tree, "-p", parent, "-m", message[0], "-m", message[1])
        result = _git(self.workspace, *commit, check=False)
        if result.status and _NO_IDENTITY.search(result.err):
            result = _git(self.workspace, *_FALLBACK_IDENTITY, *commit)
        elif result.status:
            raise _failure(commit, self.workspace, result.err, result.status)
        return result.out.strip()

    def _write_tree(self, gitdir: Path) -> str:
        """The tree of the worktree's index, computed on a throwaway copy of it."""
        # write-tree rewrites the index it reads, re-hashing every file whose mtime is in the
        # index's second (racy git): all of them right after a checkout. A copy dated 0 is never
        # racy; only blob ids are read from it, so nothing is trusted that was not hashed.
        scratch = gitdir / "parallel-runs.index"
        shutil.copyfile(gitdir / "index", scratch)
        os.utime(scratch, ns=(0, 0))
        try:
            return _git(self.workspace, "write-tree", env={"GIT_INDEX_FILE": str(scratch)}).out.strip()
        finally:
            scratch.unlink(missing_ok=True)

    def _stage_all(self) -> None:
        """`git add --all`, leaving out nested repositories (git could only record them as gitlinks)."""
        result = _git(self.workspace, "add", "--all", check=False)
        embedded = _EMBEDDED.findall(result.err)  # staged as gitlinks: unstage them
        if embedded:
            unstage = ("--literal-pathspecs", "rm", "--cached", "-r", "-f", "-q", "--ignore-unmatch", "--")
            _git(self.workspace, *unstage, *embedded)
        nested: list[str] = []
        if result.status and _UNBORN_NESTED.search(result.err):  # git names only the first one
            others = _git(self.workspace, "ls-files", "-z", "--others", "--exclude-standard").out
            nested = [name.rstrip("/") for name in others.split("\0") if name.endswith("/")]
            excludes = [f":(exclude,literal){name}" for name in nested]
            result = _git(self.workspace, "add", "--all", "--", ".", *excludes, check=False)
        if result.status:
            raise _failure(("add",), self.workspace, result.err, result.status)
        if nested or embedded:
            self._has_unsaved_nested_repos = True
            logger.warning("nested repositories not saved, blocking removal: %s", nested + embedded)

    def _adopt(self, new: str, *, subject: str, was: str) -> None:
        """HEAD left the run branch (detached, switched): move the branch to `new`, re-attach HEAD."""
        tip = _refs(self.repo, self.branch_ref).get(self.branch_ref)
        if tip and tip != new:
            probe = _git(self.workspace, "merge-base", "--is-ancestor", tip, new, check=False)
            if probe.status:  # the branch's own commits are not in `new`: keep them reachable
                _keep_tip(self.repo, slug=self.paths.slug, tip=tip, preferred=0)
        _git(self.workspace, "update-ref", "-m", subject, self.branch_ref, new, tip or "")
        _git(self.workspace, "symbolic-ref", "-m", subject, "HEAD", self.branch_ref)
        logger.warning("HEAD of %s was on %s; %s now points at %s", self.workspace, was, self.branch_ref, new)

    def _write_patch(self, base_sha: str, tree: str) -> None:
        target = self.paths.changes_patch
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.partial")
        with partial.open("wb") as stream:  # streamed: a patch can be larger than memory
            _git(self.workspace, "diff", *_PATCH_OPTIONS, base_sha, tree, "--", stdout=stream)
        partial.replace(target)

    def remove(self, *, just_saved: bool = False) -> None:
        """Remove the worktree (ignored files included) only when it holds no unsaved change.

        `just_saved`: save_changes() has just committed everything and nothing of the run is left
        running, so git's own clean check (a full re-hash right after a checkout) is skipped.
        """
        if not self.workspace.exists():
            if self._is_registered():
                _git(self.repo, "worktree", "prune")
            return
        if not self._is_worktree():
            if any(self.workspace.iterdir()):
                raise GitError(f"refusing to remove {self.workspace}: it is not a git worktree")
            self.workspace.rmdir()
            return
        # Without --force git itself refuses modified or untracked files: one call, one status
        # (told not to rewrite the index: in the second of the checkout that re-hashes every file).
        force = just_saved and not self._has_unsaved_nested_repos
        remove = ("--no-optional-locks", "worktree", "remove", *(("--force",) if force else ()))
        result = _git(self.repo, *remove, str(self.workspace), check=False)
        if result.status and "submodules" in result.err and not self.is_dirty():
            result = _git(self.repo, *remove, "--force", str(self.workspace), check=False)
        if result.status and ("modified or untracked" in result.err or "submodules" in result.err):
            raise GitError(f"refusing to remove {self.workspace}: it has unsaved changes")
        if result.status:
            raise _failure(("worktree",), self.repo, result.err, result.status)
        if self.workspace.exists():  # git could not delete everything: finish and forget it
            shutil.rmtree(self.workspace)
            _git(self.repo, "worktree", "prune")


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
