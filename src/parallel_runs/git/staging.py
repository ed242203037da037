"""A save's tree: every change staged on the worktree's index with the save's own settings.

The run's index flags are cleared first: an assume-unchanged (or skip-worktree) bit the run set,
or that `core.ignoreStat` set at checkout, would hide the file's edits from `git add`. A
skip-worktree file that is not on disk (a sparse checkout) keeps its bit: it was not deleted.
Staging stays on the worktree's own index, which `git gc` sees: a concurrent prune keeps the
blobs. When the index names blobs that are gone (a run's `git gc --prune=now` after a `git
worktree prune` forgot this worktree), the tree is built again from the files, on a fresh index
of HEAD that then replaces the worktree's. With `rehash` (a run changed the shared settings, see
settings), every tracked file is read again: a stat-clean entry may hold a filtered blob.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from parallel_runs.git.run_git import _failure, _git

__all__ = ["Staged"]

logger = logging.getLogger(__name__)

_UNBORN_NESTED = re.compile(r"does not have a commit checked out")
_EMBEDDED = re.compile(r"^warning: adding embedded git repository: (.+)$", re.MULTILINE)
_MISSING_OBJECT = re.compile(r"invalid object|error building trees|unable to read|bad object")
_CHUNK = 500  # paths per command line


class Staged:
    """One save's staging: its tree, and the nested repositories left out of it."""

    def __init__(
        self,
        workspace: Path,
        *,
        gitdir: Path,
        settings: tuple[str, ...],
        rehash: bool = False,
        flagless: bool = False,
    ) -> None:
        """`flagless`: the index is known to hold no assume-unchanged or skip-worktree flag."""
        self.workspace, self.settings, self.rehash, self.flagless = workspace, settings, rehash, flagless
        self.index = gitdir / "index"
        self.scratch = gitdir / "parallel-runs.index"
        self.nested: list[str] = []
        self._rebuilt = False

    def _git(self, *args: str, scratch: bool = False) -> str:
        env = {"GIT_INDEX_FILE": str(self.scratch)} if scratch else None
        return _git(self.workspace, *self.settings, *args, env=env).out

    def tree(self) -> str:
        """Stage every change on the worktree's index and write its tree (see the module's doc)."""
        if not self.index.is_file():  # a run may delete it: everything is then staged afresh
            self._git("read-tree", "HEAD")
        if not self.flagless:
            self._clear_flags()
        self._add_all(scratch=False)
        if self.rehash:
            self._git("add", "--renormalize", "--", ".")
        written = self._write_tree(copy=True)
        if written is not None:
            return written
        logger.warning("the index of %s names missing objects: saving from its files", self.workspace)
        self.scratch.unlink(missing_ok=True)
        self._git("read-tree", "HEAD", scratch=True)
        self._add_all(scratch=True)
        self._rebuilt = True
        again = self._write_tree(copy=False)
        if again is None:
            raise _failure(("write-tree",), self.workspace, "objects missing after re-hashing", 128)
        return again

    def keep(self) -> None:
        """After the commit: an index rebuilt from the files replaces the one naming missing objects."""
        if self._rebuilt:
            os.replace(self.scratch, self.index)

    def discard(self) -> None:
        """Drop the scratch index, if one is left."""
        self.scratch.unlink(missing_ok=True)

    def _clear_flags(self) -> None:
        """Clear the assume-unchanged and skip-worktree flags that hide files from `git add`."""
        listing = self._git("ls-files", "-v", "-z").split("\0")
        entries = [(entry[0], entry[2:]) for entry in listing if len(entry) > 2]
        unassumed = [path for tag, path in entries if tag.islower()]
        on_disk = [path for tag, path in entries if tag in "Ss" and os.path.lexists(self.workspace / path)]
        for flag, paths in (("--no-assume-unchanged", unassumed), ("--no-skip-worktree", on_disk)):
            for start in range(0, len(paths), _CHUNK):
                self._git("update-index", flag, "--", *paths[start : start + _CHUNK])
        if unassumed or on_disk:
            logger.warning(
                "%s: cleared %d assume-unchanged and %d skip-worktree flag(s): the save sees the files",
                self.workspace,
                len(unassumed),
                len(on_disk),
            )

    def _add_all(self, *, scratch: bool) -> None:
        """`git add --all`, leaving out nested repositories (git could only record them as gitlinks)."""
        env = {"GIT_INDEX_FILE": str(self.scratch)} if scratch else None
        result = _git(self.workspace, *self.settings, "add", "--all", env=env, check=False)
        embedded = _EMBEDDED.findall(result.err)  # staged as gitlinks: unstage them
        if embedded:
            unstage = ("--literal-pathspecs", "rm", "--cached", "-r", "-f", "-q", "--ignore-unmatch", "--")
            self._git(*unstage, *embedded, scratch=scratch)
        nested: list[str] = []
        if result.status and _UNBORN_NESTED.search(result.err):  # git names only the first one
            others = self._git("ls-files", "-z", "--others", "--exclude-standard", scratch=scratch)
            nested = [name.rstrip("/") for name in others.split("\0") if name.endswith("/")]
            excludes = [f":(exclude,literal){name}" for name in nested]
            add = ("add", "--all", "--", ".", *excludes)
            result = _git(self.workspace, *self.settings, *add, env=env, check=False)
        if result.status:
            raise _failure(("add",), self.workspace, result.err, result.status)
        self.nested = nested + embedded
        if self.nested:
            logger.warning("nested repositories not saved, blocking removal: %s", self.nested)

    def _write_tree(self, *, copy: bool) -> str | None:
        """The tree of the index (`copy`: of the worktree's, on a throwaway copy); None when it names
        objects that are gone."""
        # write-tree rewrites the index it reads, re-hashing every file whose mtime is in the
        # index's second (racy git): all of them right after a checkout. A copy dated 0 is never
        # racy; `add` has just hashed every changed file, so nothing is trusted that was not hashed.
        if copy:
            shutil.copyfile(self.index, self.scratch)
        os.utime(self.scratch, ns=(0, 0))
        env = {"GIT_INDEX_FILE": str(self.scratch)}
        try:
            result = _git(self.workspace, *self.settings, "write-tree", env=env, check=False)
        finally:
            if copy:
                self.scratch.unlink(missing_ok=True)
        if result.status and _MISSING_OBJECT.search(result.err):
            return None
        if result.status:
            raise _failure(("write-tree",), self.workspace, result.err, result.status)
        return result.out.strip()
