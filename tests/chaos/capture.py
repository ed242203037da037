"""What a worktree holds right now, for the chaos suite: run as `python capture.py OUT [--also SHA...]`
inside a worktree. Writes JSON with
- `blobs`: every blob git would save (tracked and untracked, not ignored), hashed here from the
  files' bytes (whatever filters, index flags or ignore settings a run set, and without writing an
  object git may have lost), and every blob of the commits reachable from HEAD, the run branch and
  `--also`;
- `disk`: every file under the worktree (outside .git) as `path: blob id`, for worktrees git can
  no longer save (their files must stay where they are).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
from pathlib import Path


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _on_disk(root: Path) -> dict[str, str]:
    found = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name != ".git"]
        for name in files:
            path = Path(directory) / name
            if name == ".git" and path.is_file():
                continue
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            found[os.fsdecode(path.relative_to(root))] = _blob_id(data)
    return found


def _git(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        capture_output=True,
        encoding="utf-8",
        errors="surrogateescape",  # names that are not UTF-8 come back as os.fsdecode makes them
        env={**os.environ, **(env or {})},
        input=stdin,
        check=True,
    )
    return done.stdout


# What a run may have set for every worktree (the chaos cases do): undone for this oracle.
NEUTRAL = (
    *("core.excludesFile=/dev/null", "core.attributesFile=/dev/null", "core.ignoreStat=false"),
    *("core.fsmonitor=false", "core.untrackedCache=false"),
)


def _blobs(also: list[str]) -> set[str]:
    neutral = [arg for setting in NEUTRAL for arg in ("-c", setting)]
    listing = _git(*neutral, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    blobs = set()
    for name in dict.fromkeys(filter(None, listing)):  # an unmerged path is listed once per stage
        path = Path(name)
        if path.is_symlink():
            blobs.add(_blob_id(os.fsencode(os.readlink(path))))
        elif path.is_file():
            blobs.add(_blob_id(path.read_bytes()))
    branch = f"refs/heads/parallel-runs/{os.environ['PARALLEL_RUNS_SLUG']}"
    objects = _git("rev-list", "--objects", "--no-object-names", "--ignore-missing", "HEAD", branch, *also)
    batch = _git("cat-file", "--batch-check=%(objecttype) %(objectname)", stdin=objects)
    return blobs | {line.split()[1] for line in batch.splitlines() if line.startswith("blob ")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--also", nargs="*", default=[])
    args = parser.parse_args()
    git_file = Path(".git")
    blobs = _blobs(args.also) if git_file.is_file() else set()
    args.out.write_text(json.dumps({"blobs": sorted(blobs), "disk": _on_disk(Path.cwd())}))


if __name__ == "__main__":
    main()
