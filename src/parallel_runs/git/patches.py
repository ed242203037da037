"""changes.patch: a run's changes against its base commit, as one file anyone can `git apply`."""

from __future__ import annotations

from pathlib import Path

from parallel_runs.errors import NoSpaceError, is_disk_full
from parallel_runs.git.run_git import _git

__all__ = ["write_patch"]

_PATCH_OPTIONS = (
    *("--binary", "--no-color", "--no-ext-diff", "--no-textconv"),
    *("--submodule=short", "--ignore-submodules=none", "--src-prefix=a/", "--dst-prefix=b/"),
)


def write_patch(repo: Path, target: Path, base_sha: str, tree: str | None) -> None:
    """`target` holds the diff of `tree` (or a commit) against the base; empty when `tree` is None."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial")
    try:
        with partial.open("wb") as stream:  # streamed: a patch can be larger than memory
            if tree is not None:
                _git(repo, "diff", *_PATCH_OPTIONS, base_sha, tree, "--", stdout=stream)
        partial.replace(target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)  # a partial patch must not fill the disk for later runs
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise NoSpaceError(f"no space left on device for {target}") from exc
        raise
