"""Where a save starts: the worktree's git dir, HEAD, its tree and ref, and whether the run wrote
its index; read from the files while the worktree is as create() left it, else asked of git.

A run's fixed cost is mostly git start-ups (P1 in docs/PERFORMANCE.md): a no-op run's save needs
neither the `rev-parse` probe nor the `ls-files` listing of index flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parallel_runs.git.ref_files import loose_ref, symbolic_head
from parallel_runs.git.repository import common_git_dir, tree_of_commit
from parallel_runs.git.run_git import _git
from parallel_runs.git.worktree_git_dir import own_git_dir

__all__ = ["Created", "HeadState"]

_PROBE = ("rev-parse", "--absolute-git-dir", "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD")
_Fingerprint = tuple[int, int, int, int]


def _fingerprint(path: Path) -> _Fingerprint | None:
    """What changes whenever a file is written or replaced (a ctime cannot be set back)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class HeadState:
    """The worktree's own git dir, its HEAD commit and tree, and the ref HEAD names (`HEAD`: detached)."""

    gitdir: Path
    head: str
    tree: str
    ref: str

    @classmethod
    def probe(cls, workspace: Path) -> HeadState:
        """Asked of git (one process)."""
        gitdir, head, tree, ref = _git(workspace, *_PROBE).out.split("\n")
        return cls(Path(gitdir), head, tree, ref)


@dataclass(frozen=True, slots=True)
class Created:
    """What create() left: the worktree's own git dir and its index as the checkout wrote it."""

    gitdir: Path
    index: _Fingerprint | None

    @classmethod
    def of(cls, workspace: Path) -> Created | None:
        """Taken right after the checkout; None when the worktree has no git dir of its own."""
        gitdir = own_git_dir(workspace)
        return None if gitdir is None else cls(gitdir, _fingerprint(gitdir / "index"))

    def index_untouched(self) -> bool:
        """True while nothing wrote the index since the checkout: no flag can hide a file from `git add`
        (the checkout ran with core.ignoreStat and sparse checkout forced off)."""
        return self.index is not None and _fingerprint(self.gitdir / "index") == self.index

    def untouched_head(
        self, workspace: Path, *, repo: Path, branch_ref: str, base_sha: str
    ) -> HeadState | None:
        """HEAD still on the run branch at the base, as create() left it; None when that is not plain."""
        if own_git_dir(workspace) != self.gitdir or symbolic_head(self.gitdir) != branch_ref:
            return None
        if loose_ref(common_git_dir(repo), branch_ref) != base_sha:
            return None
        return HeadState(self.gitdir, base_sha, tree_of_commit(repo, base_sha), branch_ref)
