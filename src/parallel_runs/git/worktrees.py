"""Run worktrees and their run branches: create, save, remove; and the ones under a runs dir.

Saving keeps everything the run wrote: its own commits; uncommitted tracked and untracked (not
ignored) files, committed on the worktree's HEAD; a detached HEAD or switched branch becomes the
run branch's head (HEAD is re-attached; displaced run-branch commits keep an attempt ref); an
unfinished merge/rebase is committed as the files stand, conflict markers included. A nested
repository is left out of the commit and stays untracked, so `remove()` refuses to delete it.
Submodules: their repositories live inside the worktree's git dir, so before removal each one's
HEAD is fetched into the main repository under refs/parallel-runs/submodules/<slug>/; one with
uncommitted changes blocks removal. Removal discards ignored files.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

from parallel_runs import testing_faults
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.errors import GitError, NoSpaceError
from parallel_runs.git.checkout_state import Created, HeadState
from parallel_runs.git.patches import write_patch
from parallel_runs.git.repository import _keep_tip, _refs, common_git_dir
from parallel_runs.git.run_git import _failure, _git, _Result
from parallel_runs.git.settings import SaveSettings, effective_config
from parallel_runs.git.staging import Staged
from parallel_runs.git.worktree_git_dir import has_submodule_repos, keep_submodule_heads, leftover_locks

__all__ = ["RunWorktree"]

logger = logging.getLogger(__name__)

_FALLBACK_IDENTITY = ("-c", "user.name=parallel-runs", "-c", "user.email=parallel-runs@localhost")
_NO_IDENTITY = re.compile(r"identity unknown|empty ident|auto-detect|auto-detection is disabled")
_STALE_REGISTRATION = re.compile(r"missing but already registered|already checked out at|used by worktree at")


def _ours(run_id: str, attempt: int) -> str:
    """How the subject of this attempt's save commit begins (before the outcome)."""
    return f"parallel-runs: {run_id} attempt {attempt} "


def _message(run_id: str, attempt: int, outcome: Outcome | str) -> tuple[str, str]:
    """A save commit's subject and body (trailers naming run, attempt and outcome)."""
    trailers = f"Parallel-Runs-Run-Id: {run_id}\nParallel-Runs-Attempt: {attempt}\n"
    return (f"{_ours(run_id, attempt)}{outcome}", f"{trailers}Parallel-Runs-Outcome: {outcome}")


class RunWorktree:
    """One run's worktree and its run branch: create, save, remove (the seed's: seed/workspace.py)."""

    def __init__(
        self,
        *,
        repo: Path,
        paths: RunPaths,
        settings: SaveSettings | None = None,
        workspace: Path | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings  # the batch's; without one (recover, cleanup), the settings as they are now
        self.paths = paths
        self.workspace = workspace or paths.workspace  # another path: a worker's reused worktree (reuse.py)
        self.branch_ref = f"refs/heads/{paths.branch}"
        self._has_unsaved_nested_repos = False  # set by save_changes: then removal must not be forced
        self._created: Created | None = None  # set by create: what a save may read without git

    def _save_settings(self, where: Path | None = None) -> tuple[str, ...]:
        """`-c` options that make git see the worktree as the batch's settings do (see settings)."""
        current = effective_config(where or self.workspace, common=common_git_dir(self.repo))
        return (self.settings or SaveSettings(current)).args(current)

    def is_worktree(self) -> bool:
        """True while the worktree's `.git` file is there (git can save it)."""
        return (self.workspace / ".git").exists()

    def _is_registered(self) -> bool:
        target = os.path.realpath(self.workspace / ".git")
        try:
            # `worktree remove` of the last worktree (another run's) deletes .git/worktrees itself.
            gitdirs = list((common_git_dir(self.repo) / "worktrees").glob("*/gitdir"))
        except FileNotFoundError:
            return False
        for gitdir in gitdirs:
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
        if not self.is_worktree():
            return False
        status = ("--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=normal")
        return bool(_git(self.workspace, *self._save_settings(), *status, "--ignore-submodules=none").out)

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
        self._created = Created.of(self.workspace)
        logger.debug("created %s at %s", self.workspace, base_sha[:12])
        return self.workspace

    def _add(self, mode: str, base_sha: str) -> _Result:
        # Parallel checkout (one worker per CPU) makes creation faster than a plain `worktree add`.
        # Checked out with the batch's settings: a run's `core.ignoreStat` or filter must not reach it.
        add = (*self._save_settings(self.repo), "-c", "checkout.workers=0", "worktree", "add", "--quiet")
        args = (*add, mode, self.paths.branch, str(self.workspace), base_sha)
        result = _git(self.repo, *args, check=False)
        if result.status and _STALE_REGISTRATION.search(result.err):
            # A worktree whose directory vanished still holds the path or branch: nothing to lose.
            _git(self.repo, "worktree", "prune")
            result = _git(self.repo, *args, check=False)
        return result

    def save_changes(
        self, *, run_id: str, attempt: int, outcome: Outcome | str, base_sha: str, relabel: bool = False
    ) -> str | None:
        """Commit every change to the run branch, write changes.patch; return the branch head.

        `relabel`: nothing changed since this attempt's own save (before its tests), so that commit
        gets the final outcome in its message instead of a new commit on top.
        """
        if testing_faults.is_broken("save-before-remove"):  # chaos-proof only: nothing is saved
            return None
        if not self.is_worktree():
            missing = "has no .git file" if self.workspace.is_dir() else "is gone"
            logger.warning("cannot save %s: its worktree %s %s", run_id, self.workspace, missing)
            return None
        state = self._head_state(base_sha)
        gitdir, head, head_tree, head_ref = state.gitdir, state.head, state.tree, state.ref
        rehash = self.settings is not None and self.settings.rehash.is_set()
        flagless = self._created is not None and self._created.index_untouched()
        staged = Staged(
            self.workspace, gitdir=gitdir, settings=self._save_settings(), rehash=rehash, flagless=flagless
        )
        try:
            tree = staged.tree()
            self._has_unsaved_nested_repos = bool(staged.nested)  # this save's finding, not a past one's
            message = _message(run_id, attempt, outcome)
            new = head if tree == head_tree else self._commit(tree, parent=head, message=message)
        except BaseException:
            staged.discard()
            raise
        # Untouched since the base commit: the patch is known to be empty, a file written without git.
        # Else its `git diff` runs beside the branch's update: git's start-up is most of either's cost.
        unchanged = head == base_sha and tree == head_tree
        with nullcontext() if unchanged else ThreadPoolExecutor(max_workers=1) as pool:
            patch_args = (self.repo, self.paths.changes_patch, base_sha, None if unchanged else tree)
            patch = pool.submit(write_patch, *patch_args) if pool else None
            if relabel and new == head != base_sha:
                new = self._relabel(head, tree, message=message, ours=_ours(run_id, attempt))
            subject = message[0]
            if head_ref != self.branch_ref:
                self._adopt(new, subject=subject, was=head_ref)
            elif new != head:
                _git(self.workspace, "update-ref", "-m", subject, "HEAD", new, head)
            staged.keep()
            try:
                write_patch(*patch_args) if patch is None else patch.result()
            except NoSpaceError as exc:  # the commit holds every change: only the patch file is missing
                raise NoSpaceError(str(exc), saved_head=self._say_failed(new, tree, run_id, attempt)) from exc
        return new

    def _head_state(self, base_sha: str) -> HeadState:
        """Read from the files while HEAD is as create() left it, else asked of git."""
        created = self._created
        known = created and created.untouched_head(
            self.workspace, repo=self.repo, branch_ref=self.branch_ref, base_sha=base_sha
        )
        return known or HeadState.probe(self.workspace)

    def _say_failed(self, head: str, tree: str, run_id: str, attempt: int) -> str:
        """The attempt is recorded failed (no_space) after all: its own commit `head` says so too."""
        message = _message(run_id, attempt, Outcome.FAILED.value)
        try:
            new = self._relabel(head, tree, message=message, ours=_ours(run_id, attempt))
            if new != head:
                _git(self.workspace, "update-ref", "-m", message[0], "HEAD", new, head)
        except NoSpaceError:  # the repository's disk is full too: the commit keeps its first words
            return head
        return new

    def mark_superseded(self, *, run_id: str, attempt: int, head: str) -> None:
        """An empty commit on the run branch: the store refused this attempt (its lease moved on)."""
        subject = f"parallel-runs: {run_id} attempt {attempt} superseded"
        body = (
            "Its lease was taken over: the store records this attempt abandoned.\n\n"
            f"Parallel-Runs-Run-Id: {run_id}\nParallel-Runs-Attempt: {attempt}\n"
            "Parallel-Runs-Outcome: abandoned"
        )
        tree = _git(self.workspace, "rev-parse", f"{head}^{{tree}}").out.strip()
        new = self._commit(tree, parent=head, message=(subject, body))
        _git(self.workspace, "update-ref", "-m", subject, self.branch_ref, new, head)

    def write_patch(self, *, base_sha: str, head: str) -> None:
        """changes.patch of the run branch's `head` against the base (no worktree needed)."""
        write_patch(self.repo, self.paths.changes_patch, base_sha, None if head == base_sha else head)

    def _commit(self, tree: str, *, parent: str, message: tuple[str, str]) -> str:
        """A commit of `tree`; git's identity, else a fallback one when git has none."""
        commit = ("commit-tree", tree, "-p", parent, "-m", message[0], "-m", message[1])
        result = _git(self.workspace, *commit, check=False)
        if result.status and _NO_IDENTITY.search(result.err):
            result = _git(self.workspace, *_FALLBACK_IDENTITY, *commit)
        elif result.status:
            raise _failure(commit, self.workspace, result.err, result.status)
        return result.out.strip()

    def _relabel(self, head: str, tree: str, *, message: tuple[str, str], ours: str) -> str:
        """`head` again with `message`, if it is this attempt's own commit of the same tree."""
        subject, _, parents = _git(self.workspace, "log", "-1", "--format=%s%x00%P", head).out.partition("\0")
        if not subject.startswith(ours) or subject == message[0] or len(parents.split()) != 1:
            return head
        return self._commit(tree, parent=parents.strip(), message=message)

    def restore(self, commit: str) -> None:
        """Put the worktree back to `commit`: what was written since (test reports, caches) is dropped.

        Untracked files go too (they were saved in `commit`, or written after it); ignored ones stay.
        """
        _git(self.workspace, "reset", "--quiet", "--hard", commit)
        _git(self.workspace, "clean", "--quiet", "--force", "-d")

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

    def git_locks(self) -> list[Path]:
        """Lock files a git killed mid-write leaves, each blocking every later save."""
        return leftover_locks(self.workspace, repo=self.repo, branch_ref=self.branch_ref)

    def remove(self, *, just_saved: bool = False) -> None:
        """Remove the worktree (ignored files included) only when it holds no unsaved change.

        `just_saved`: save_changes() has just committed everything and nothing of the run is left
        running, so git's own clean check (a full re-hash right after a checkout) is skipped.
        """
        if not self.workspace.exists():
            if self._is_registered():
                _git(self.repo, "worktree", "prune")
            return
        if not self.is_worktree():
            if any(self.workspace.iterdir()):
                raise GitError(f"refusing to remove {self.workspace}: it is not a git worktree")
            self.workspace.rmdir()
            return
        # Without --force git itself refuses modified or untracked files: one call, one status
        # (told not to rewrite the index: in the second of the checkout that re-hashes every file).
        # With submodules git always refuses: they take the checked path below.
        force = just_saved and not self._has_unsaved_nested_repos and not has_submodule_repos(self.workspace)
        # git's own check sees the files as the save does (its status inherits our `-c` settings).
        settings = () if force else self._save_settings()
        remove = (*settings, "--no-optional-locks", "worktree", "remove", *(("--force",) if force else ()))
        result = _git(self.repo, *remove, str(self.workspace), check=False)
        if result.status and "submodules" in result.err and not self.is_dirty():
            keep_submodule_heads(self.workspace, repo=self.repo, slug=self.paths.slug)
            result = _git(self.repo, *remove, "--force", str(self.workspace), check=False)
        if result.status and ("modified or untracked" in result.err or "submodules" in result.err):
            raise GitError(f"refusing to remove {self.workspace}: it has unsaved changes")
        if result.status:
            raise _failure(("worktree",), self.repo, result.err, result.status)
        if self.workspace.exists():  # git could not delete everything: finish and forget it
            shutil.rmtree(self.workspace)
            _git(self.repo, "worktree", "prune")
