"""Run branches (`parallel-runs/<slug>`) and attempt refs as refs: list them, ask what only they keep,
delete them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs.core.layout import ATTEMPT_REF_PREFIX, BRANCH_PREFIX
from parallel_runs.git.listing import worktree_records
from parallel_runs.git.run_git import _git

__all__ = ["RunRef", "checked_out_branches", "delete_ref", "is_merged", "run_refs", "unique_commits"]

logger = logging.getLogger(__name__)

_BRANCHES = f"refs/heads/{BRANCH_PREFIX}"


@dataclass(frozen=True, slots=True)
class RunRef:
    """A run branch or an attempt ref, and its tip."""

    name: str  # the full ref name
    slug: str
    sha: str
    committed_at: datetime  # the tip's committer date

    @property
    def short(self) -> str:
        """`parallel-runs/<slug>` for a branch; the full name for an attempt ref."""
        return self.name.removeprefix("refs/heads/")


def run_refs(repo: Path) -> list[RunRef]:
    """Every run branch and attempt ref, by name."""
    out = _git(
        repo,
        "for-each-ref",
        "--format=%(refname) %(objectname) %(committerdate:unix)",
        _BRANCHES,
        ATTEMPT_REF_PREFIX,
    ).out
    refs = []
    for line in out.splitlines():
        name, sha, stamp = line.split(" ")
        rest = (
            name.removeprefix(_BRANCHES)
            if name.startswith(_BRANCHES)
            else name.removeprefix(ATTEMPT_REF_PREFIX)
        )
        slug = rest.split("/", 1)[0]
        refs.append(RunRef(name, slug, sha, datetime.fromtimestamp(int(stamp or 0), UTC)))
    return sorted(refs, key=lambda ref: ref.name)


def checked_out_branches(repo: Path) -> dict[str, Path]:
    """Full branch name -> the worktree that has it checked out."""
    records = worktree_records(repo)
    return {
        fields["branch"]: Path(fields["worktree"])
        for fields in records
        if {"branch", "worktree"} <= fields.keys()
    }


def is_merged(repo: Path, sha: str, into: str = "HEAD") -> bool:
    """Whether commit `sha` is in the history of `into`."""
    return _git(repo, "merge-base", "--is-ancestor", sha, into, check=False).status == 0


def unique_commits(repo: Path, sha: str, *, leaving: Iterable[str]) -> int:
    """Commits of `sha` that no ref keeps once the refs `leaving` are gone (HEAD counts as a ref)."""
    excluded = [f"--exclude={name}" for name in leaving]
    return int(_git(repo, "rev-list", "--count", sha, "--not", *excluded, "--all").out.strip() or 0)


def delete_ref(repo: Path, ref: RunRef) -> bool:
    """Delete the ref if it still points where it did; False if it moved meanwhile."""
    done = _git(
        repo, "update-ref", "-m", "parallel-runs: branches prune", "-d", ref.name, ref.sha, check=False
    )
    if done.status:
        logger.info("%s moved or vanished; not deleted: %s", ref.name, done.err.strip())
    return done.status == 0
