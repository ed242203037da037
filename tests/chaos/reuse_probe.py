"""What a reused worktree holds of earlier runs, for R12: run as `python reuse_probe.py OUT KEPT` at the
start of a run's command, in its worktree. Writes JSON `{"problems": [...]}`: everything that differs
from a fresh worktree of the run (HEAD on the run branch at the base commit, exactly the tracked files
with the base's bytes and no index flag, no other file, directory or symlink on disk, and a worktree
git dir with nothing a fresh one lacks) except what lies under the top-level directory KEPT.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

# What a fresh worktree's own git dir holds once its branch is checked out.
FRESH_GIT_DIR = {"HEAD", "commondir", "gitdir", "index", "logs", "ORIG_HEAD"}


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], capture_output=True, check=True).stdout


def _on_disk(root: Path, kept: str) -> set[str]:
    """Every file, symlink and empty directory under `root` (outside .git and `kept`), not following links."""
    found = set()
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        if here == root:
            dirs[:] = [name for name in dirs if name != kept]
        found |= {os.fsdecode((here / name).relative_to(root)) for name in files}
        found |= {os.fsdecode((here / name).relative_to(root)) for name in dirs if (here / name).is_symlink()}
        if not dirs and not files and here != root:
            found.add(os.fsdecode(here.relative_to(root)) + "/")
    found.discard(".git")
    return found


def main() -> None:
    out, kept = Path(sys.argv[1]), sys.argv[2]
    slug, base = os.environ["PARALLEL_RUNS_SLUG"], os.environ["PARALLEL_RUNS_BASE_SHA"]
    problems = []
    head = _git("rev-parse", "HEAD").decode().strip()
    branch = _git("symbolic-ref", "-q", "HEAD").decode().strip()
    if (head, branch) != (base, f"refs/heads/parallel-runs/{slug}"):
        problems.append(f"HEAD is {branch or 'detached'} at {head}, not the run branch at the base")
    flags = [
        entry for entry in _git("ls-files", "-v", "-z").split(b"\0") if entry and not entry.startswith(b"H ")
    ]
    problems += [f"index flag: {os.fsdecode(entry)!r}" for entry in flags]
    # Bytes against the base's blobs, not `git diff`: another run may have set a clean filter meanwhile.
    for entry in filter(None, _git("ls-tree", "-r", "-z", base).split(b"\0")):
        info, _, name = entry.partition(b"\t")
        path = Path(os.fsdecode(name))
        data = (
            os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else None
        )
        if data is None or _blob_id(data) != info.split()[2].decode():
            problems.append(f"differs from the base: {os.fsdecode(name)!r}")
    tracked = {os.fsdecode(name) for name in _git("ls-files", "-z").split(b"\0") if name}
    problems += [f"left on disk: {name!r}" for name in sorted(_on_disk(Path.cwd(), kept) - tracked)]
    gitdir = Path(_git("rev-parse", "--absolute-git-dir").decode().strip())
    problems += [
        f"left in the worktree's git dir: {name}" for name in sorted(set(os.listdir(gitdir)) - FRESH_GIT_DIR)
    ]
    refs = _git("for-each-ref", "--format=%(refname)", "refs/worktree", "refs/bisect").decode().split()
    problems += [f"per-worktree ref: {ref}" for ref in refs]
    out.write_text(json.dumps({"problems": problems}))


if __name__ == "__main__":
    main()
