"""--reuse-worktrees: a worker keeps one worktree (its slot) between runs and resets it for the next.

A slot lives at `<runs dir>/.reuse/<name>` for the worker's whole life, so what a setup command
wrote there (a venv's scripts, an editable install) keeps pointing at the right place. Its lock,
`<name>.lock`, is held by the worker; its owner record names the run in it (`slug`) from the moment
the slot is switched to that run until that run's save is committed, and nothing else:

- `ReusedWorktree.create` records the run, then puts the run branch at the base commit there (a
  fresh `worktree add` the first time; refs alone when the slot is already at that base); an
  earlier attempt's tip is kept as for a fresh one.
- After the save, `remove` clears the record first, then resets the slot (`resetting.reset_for_reuse`):
  tracked files back to the base commit, HEAD detached, the worktree's own git state dropped,
  index flags cleared, untracked files removed, ignored files removed except those matching
  `--keep-ignored`, and git's listing of what is left, which must name only those. Anything that
  fails or refuses (a nested repository the save left out, submodules, a broken `.git`) removes
  the worktree as a fresh run would, or hands it to the run's own path when git refuses to.

So a slot whose holder died is either a run's leftover (the record names it: recovered to that
run's branch like any other) or holds nothing of any run (no record: discarded) —
maintenance/slots.py.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.layout import RunPaths, reuse_dir
from parallel_runs.errors import GitError, ParallelRunsError
from parallel_runs.git.repository import _keep_tip, _refs
from parallel_runs.git.resetting import discard_slot, hand_over, is_reusable, reset_for_reuse
from parallel_runs.git.run_git import _failure, _git
from parallel_runs.git.settings import SaveSettings
from parallel_runs.git.worktrees import RunWorktree
from parallel_runs.locks import OwnedLock

__all__ = ["ReuseSlot", "ReusedWorktree", "slot_lock"]

logger = logging.getLogger(__name__)


def slot_lock(path: Path) -> OwnedLock:
    """The lock of the slot at `path` (its record names the run in it)."""
    return OwnedLock(path.with_name(f"{path.name}.lock"), what=f"reused worktree {path}")


@dataclass(slots=True)
class ReuseSlot:
    """One worker's kept worktree, and what the last run and reset left in it."""

    repo: Path
    name: str  # the worker's
    path: Path
    keep: tuple[str, ...]  # --keep-ignored patterns
    lock: OwnedLock
    ready: bool = False  # a worktree is here, detached at `base`, with nothing of any run in it
    base: str | None = None  # the commit the last run started from (and the slot was reset to)
    kept: tuple[str, ...] = ()  # what the last reset kept (matching `keep`)
    setup: str | None = None  # the setup (and base) whose output those kept paths hold
    note: str = ""  # for the run's log: fresh or reused, and what was kept
    settings: tuple[str, ...] = ()  # the save's `-c` settings at the last reset (no run since)

    @classmethod
    def open(cls, repo: Path, runs_dir: Path, *, name: str, keep: Sequence[str]) -> ReuseSlot:
        """A new slot of this worker, its lock held (no other process ever names the same one)."""
        home = reuse_dir(runs_dir)
        home.mkdir(parents=True, exist_ok=True)
        path = home / f"{name}-{os.getpid()}-{secrets.token_hex(3)}"
        lock = slot_lock(path)
        lock.acquire_or_raise()
        return cls(repo=repo, name=name, path=path, keep=tuple(keep), lock=lock)

    def move_on(self) -> None:
        """This slot still holds a run's files that could not be handed to the run's path: they are
        left to `recover` (the lock's record names the run) and the worker goes on in a new slot."""
        logger.warning(
            "the reused worktree %s keeps a run's files for `recover`; starting a new one", self.path
        )
        self.lock.release_keeping_record()
        moved = ReuseSlot.open(self.repo, self.path.parent.parent, name=self.name, keep=self.keep)
        self.path, self.lock, self.ready, self.base, self.kept, self.setup = (
            moved.path,
            moved.lock,
            False,
            None,
            (),
            None,
        )

    def close(self) -> None:
        """The worker is done: remove the parked worktree (nothing of a run is in it) and its lock.
        A slot that still holds a run's files keeps its lock file, whose record names the run, for
        `recover`."""
        if self.ready:
            discard_slot(self.repo, self.path)
        if self.path.exists():
            self.lock.release_keeping_record()
            return
        self.lock.release()
        self.lock.path.unlink(missing_ok=True)

    def setup_kept(self, setup_key: str) -> bool:
        """The setup `setup_key` ran here before and what it wrote was kept: it need not run again."""
        return self.setup == setup_key and bool(self.kept)


class ReusedWorktree(RunWorktree):
    """A run's worktree in its worker's slot: switched to the run, then reset instead of removed."""

    def __init__(
        self, *, repo: Path, paths: RunPaths, settings: SaveSettings | None, slot: ReuseSlot
    ) -> None:
        super().__init__(repo=repo, paths=paths, settings=settings, workspace=slot.path)
        self.slot = slot

    def create(self, *, base_sha: str, attempt: int) -> Path:
        """The run branch at `base_sha` in the slot: checked out there, or a fresh worktree the first time."""
        slot = self.slot
        if not slot.ready and slot.path.exists():  # an earlier run's files are still here
            slot.move_on()
            self.workspace = slot.path
        slot.lock.update_record(slug=self.paths.slug, attempt=attempt)  # from now on the slot is this run's
        reused, at_base, slot.ready = slot.ready, slot.base == base_sha, False
        if not at_base:  # another base: a setup's output may not fit it
            slot.setup, slot.base = None, base_sha
        if reused:
            try:
                self._switch(base_sha, attempt, at_base=at_base)
            except ParallelRunsError as exc:  # nothing of any run is in it yet: start afresh
                logger.warning("could not reuse %s (%s); creating a fresh worktree", self.workspace, exc)
                discard_slot(self.repo, self.workspace)
            else:
                slot.note = f"reused worktree {self.workspace}; kept: {', '.join(slot.kept) or 'nothing'}"
                return self.workspace
        slot.setup, slot.kept = None, ()
        slot.note = f"fresh worktree {self.workspace}"
        return super().create(base_sha=base_sha, attempt=attempt)

    def _switch(self, base_sha: str, attempt: int, *, at_base: bool) -> None:
        """Check out the run branch at `base_sha`, as `create` makes it (an earlier attempt's tip kept).

        `at_base`: the slot is detached at `base_sha` with its index and files the base's (the reset
        made it so), so a new branch is only refs: created there (refused if it exists) and HEAD
        attached, without a checkout's read of every file (100 ms on 30,000 files)."""
        if at_base:
            subject = f"parallel-runs: {self.paths.slug} in a reused worktree"
            made = _git(
                self.workspace, "update-ref", "-m", subject, self.branch_ref, base_sha, "", check=False
            )
            if not made.status:
                _git(self.workspace, "symbolic-ref", "-m", subject, "HEAD", self.branch_ref)
                return
        settings = self.slot.settings or self._save_settings()
        checkout = (*settings, "-c", "checkout.workers=0", "checkout", "--quiet", "--force")
        result = _git(self.workspace, *checkout, "-b", self.paths.branch, base_sha, check=False)
        if result.status and "already exists" in result.err:
            tip = _refs(self.repo, self.branch_ref).get(self.branch_ref)
            if tip and tip != base_sha:
                _keep_tip(self.repo, slug=self.paths.slug, tip=tip, preferred=attempt - 1)
            result = _git(self.workspace, *checkout, "-B", self.paths.branch, base_sha, check=False)
        if result.status:
            raise _failure(("checkout",), self.workspace, result.err, result.status)

    def remove(self, *, just_saved: bool = False) -> None:
        """Reset the slot for the next run once everything is saved; else remove it as a fresh one."""
        slot = self.slot
        if just_saved and slot.base is not None and is_reusable(self):
            slot.lock.update_record(slug=None, attempt=None)  # saved: nothing here is the run's any more
            slot.settings = self._save_settings()  # the next run's switch sees the config as it is now
            kept = reset_for_reuse(self, base_sha=slot.base, keep=slot.keep, settings=slot.settings)
            if kept is not None:
                slot.ready, slot.kept = True, kept
                return
        slot.ready, slot.setup, slot.kept = False, None, ()
        try:
            super().remove(just_saved=just_saved)
        except GitError:
            self.leave()
            raise
        slot.lock.update_record(slug=None, attempt=None)

    def leave(self) -> None:
        """The run's files stay (unsaved, or git refused to remove them): the worktree becomes the
        run's own leftover at the run's path, where `recover` and `cleanup` look, and the slot's next
        run starts afresh. The caller holds the run's locks."""
        self.slot.ready = False
        if hand_over(self.repo, self.workspace, self.paths.workspace):
            self.workspace = self.paths.workspace
            self.slot.lock.update_record(slug=None, attempt=None)
