"""P4, disk: what 8 kept run worktrees take, against 8 checkouts sharing one `.git`.

A batch of 8 no-op runs with `--keep-worktrees` on a generated ~700-file repository (or a clone of
--repo PATH), in --dir (tmpfs by default; give an ext4 directory to see a real disk). The disk is
counted in allocated blocks (hard links once): the 8 worktree directories plus the repository's
`.git` afterwards (each worktree's index, HEAD and logs live in `.git/worktrees/`), divided by 8 x
the main checkout's files (without `.git`) plus the `.git` before the batch. 1.00x would be git's
own floor: worktrees share every object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from overhead import bench_repository, timed_batch  # type: ignore[import-not-found]

WORKTREES = 8


def disk_bytes(*roots: Path, skip: str | None = None) -> int:
    """Allocated bytes under `roots` (each inode once), leaving out directories named `skip`."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            if skip in subdirectories:
                subdirectories.remove(skip)
            for name in [*files, *subdirectories, "."]:
                status = os.lstat(os.path.join(directory, name))
                if (status.st_dev, status.st_ino) not in seen:
                    seen.add((status.st_dev, status.st_ino))
                    total += status.st_blocks * 512
    return total


def main() -> int:
    """Measure and print the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, help="clone this repository (on disk) instead of generating one")
    parser.add_argument("--files", type=int, default=700, help="files in the generated repository")
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="where to put it all")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pr-disk-", dir=args.dir if args.dir.is_dir() else None))
    try:
        repo = bench_repository(root, args.repo, args.files)
        checkout, dot_git = disk_bytes(repo, skip=".git"), disk_bytes(repo / ".git")
        runs_dir = root / "runs"
        run_ids = f"disk-{{1..{WORKTREES}}}"
        timed_batch(
            repo, runs_dir, batch_id="disk", run_ids=run_ids, workers=1, command="true", keep_worktrees=True
        )
        worktrees = sorted((runs_dir / "workspaces").iterdir())
        assert len(worktrees) == WORKTREES, worktrees
        used = disk_bytes(*worktrees) + disk_bytes(repo / ".git")
        floor = WORKTREES * checkout + dot_git
        kib = 1024
        print(
            f"repository: checkout {checkout // kib} KiB, .git {dot_git // kib} KiB, in {root} "
            f"({WORKTREES} worktrees, each kept after a no-op run)"
        )
        print(f"{WORKTREES} worktrees + .git: {used // kib} KiB")
        print(f"{WORKTREES} x checkout + 1 x .git: {floor // kib} KiB")
        print(f"disk ratio: {used / floor:.2f}x")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
