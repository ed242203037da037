"""Refs read from git's files backend without starting git: fast paths that answer only when sure.

Every function returns None (or True, for "maybe") when the answer is not plainly in the files:
another ref storage (reftable), a symbolic ref, a packed ref, anything odd. The caller then asks
git. A run's fixed cost is mostly git start-ups; these save two of them per run (P1 in
docs/PERFORMANCE.md).
"""

from __future__ import annotations

import mmap
import re
from pathlib import Path

__all__ = ["loose_ref", "may_have_refs", "symbolic_head"]

_SHA = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?\n?")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # missing, a directory, unreadable: not plainly there
        return None


def may_have_refs(common: Path, prefix: str) -> bool:
    """False only when no ref under `prefix` (ending in /) can exist in the repository at `common`."""
    if (common / "reftable").exists() or (common / prefix).exists():
        return True
    # Loose first, packed second: `git pack-refs` writes packed-refs before it deletes loose refs.
    try:
        with (
            (common / "packed-refs").open("rb") as packed,
            mmap.mmap(packed.fileno(), 0, prot=mmap.PROT_READ) as mapped,
        ):
            return mapped.find(b" " + prefix.encode()) >= 0
    except (FileNotFoundError, ValueError):  # no packed-refs; an empty one (it cannot be mapped)
        return False


def symbolic_head(gitdir: Path) -> str | None:
    """The ref a worktree's HEAD names (`refs/heads/...`); None when detached or not plain."""
    head = _read(gitdir / "HEAD")
    if head is None or not head.startswith(b"ref: refs/"):
        return None
    return head[5:].decode(errors="replace").strip()


def loose_ref(common: Path, ref: str) -> str | None:
    """The commit a loose ref file holds; None when the ref is packed, symbolic, or not there."""
    content = _read(common / ref)
    return content.decode().strip() if content is not None and _SHA.fullmatch(content) else None
