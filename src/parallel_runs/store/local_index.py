"""The runs dir's index: what each per-run store held after its latest write, so a reader of 10,000
runs (the dashboard, as it starts) reads a few files instead of opening 10,000 SQLite stores.

After each write a per-run store appends one line to `.index/<batch key>.jsonl` (`core.layout.
index_path`): the store's name, its `store_key` once the write was committed, and every attempt it
then held. A reader takes a line only while the store's key is still the one the line names; any
other store (written since by something that did not index it, by an older version, or with no
line at all) is read from its SQLite file, which stays the only truth. So a missing, stale, cut
short or foreign index costs time, never a wrong answer. Writes to one store come one at a time
(its run's lock is held), so a line's key and attempts belong together.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from parallel_runs.core.layout import index_path
from parallel_runs.core.model import Attempt

__all__ = ["IndexReader", "StoreKey", "record_write", "store_key"]

log = logging.getLogger(__name__)

# (mtime ns, size, inode, SQLite's file change counter): every committed write changes the counter,
# so two states of a store never share a key, however coarse the file system's clock.
StoreKey = tuple[int, int, int, int]
_COUNTER = 24  # offset of the 4-byte big-endian change counter in an SQLite file's header


def store_key(path: str) -> StoreKey | None:
    """The key of the store at `path` as it is now; None when there is no such regular file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            return None
        counter = os.pread(fd, 4, _COUNTER)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (found.st_mtime_ns, found.st_size, found.st_ino, int.from_bytes(counter, "big"))


def record_write(runs_dir: Path, database: Path, attempts: Sequence[Attempt]) -> None:
    """Index the store at `database` (`<runs dir>/<slug>/<slug>.db`), just written and now holding
    `attempts`, under its latest attempt's batch. Best effort: the index only spares reads."""
    key = store_key(str(database))
    if key is None or not attempts:
        return
    latest = max(attempts, key=lambda attempt: attempt.attempt)
    fields = [database.parent.name, *map(str, key), json.dumps([a.record_json() for a in attempts])]
    path = index_path(runs_dir, latest.batch_id)
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("\t".join(fields) + "\n").encode("utf-8"))  # one append: lines never mix
        finally:
            os.close(fd)
    except OSError as exc:
        log.debug("cannot index %s in %s: %s", database, path, exc)


class IndexReader:
    """The index of one runs dir as read so far: each store's latest line, by the store's path.
    Each `refresh` reads only what was appended since the one before. Not thread-safe."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._read_to: dict[str, int] = {}  # index file: bytes read of it (whole lines)
        self._lines: dict[str, tuple[StoreKey, str]] = {}  # store path: (its key, attempts as JSON)

    def refresh(self) -> None:
        """Read what was appended to the index files since the last refresh."""
        try:
            with os.scandir(self.runs_dir / ".index") as entries:
                files = [entry.path for entry in entries if entry.name.endswith(".jsonl")]
        except OSError:
            return  # no index: written by an older version, or nothing ran here yet
        for path in files:
            self._read(path)

    def _read(self, path: str) -> None:
        start = self._read_to.get(path, 0)
        try:
            with open(path, "rb") as stream:
                if os.fstat(stream.fileno()).st_size < start:
                    start = 0  # replaced by a shorter file: read it again
                stream.seek(start)
                data = stream.read()
        except OSError as exc:
            log.debug("cannot read index %s: %s", path, exc)
            return
        whole = data.rfind(b"\n") + 1  # a line still being appended is read next time
        self._read_to[path] = start + whole
        for line in data[:whole].decode("utf-8", errors="replace").splitlines():
            self._take(line)

    def _take(self, line: str) -> None:
        fields = line.split("\t", 5)
        try:
            slug, attempts = fields[0], fields[5]
            key: StoreKey = (int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4]))
        except (IndexError, ValueError):
            return  # cut short or foreign: its store is read from its file
        database = f"{self.runs_dir}/{slug}/{slug}.db"  # as `LocalRecords` lists it
        kept = self._lines.get(database)
        # Lines of one store in two batches' files: the later write (time, then counter) wins.
        if kept is None or (key[0], key[3]) >= (kept[0][0], kept[0][3]):
            self._lines[database] = (key, attempts)

    def attempts(self, database: str, key: StoreKey) -> list[Attempt] | None:
        """The attempts the store at `database` held when its key was `key`; None when no line says."""
        kept = self._lines.get(database)
        if kept is None or kept[0] != key:
            return None
        try:
            return [Attempt.from_json(document) for document in json.loads(kept[1])]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.debug("ignoring the index line of %s: %s", database, exc)
            return None
