"""Run artifacts in the shared store: gzip blobs addressed by sha256, and an index per attempt.

Memory: a file is read in 1 MiB chunks while it is hashed and compressed, but its compressed
bytes are held whole until they are sent (bytea has no streaming insert), so one file costs up
to about three times its compressed size (the driver escapes it). The size cap bounds that.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from parallel_runs.core.defaults import DEFAULT_MAX_ARTIFACT_SIZE
from parallel_runs.errors import ConfigError, StoreError
from parallel_runs.store.models import ArtifactBlobModel, AttemptArtifactModel, pg_insert

__all__ = [
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "ArtifactInfo",
    "PackedFile",
    "find_artifact",
    "index_artifacts",
    "pack_file",
    "read_listing",
    "scan_directory",
    "store_blob",
    "write_blob",
]

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_GZIP = 16 + zlib.MAX_WBITS  # zlib's gzip container: `gzip -d` reads the stored bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactInfo:
    """One file an attempt left in its artifacts dir (skipped ones have a size but no content)."""

    run_id: str
    batch_id: str
    attempt: int
    name: str  # POSIX path relative to the artifacts dir
    size: int
    sha256: str | None
    skipped: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedFile:
    """A file's name, size and digest, with its gzip bytes unless it was over the cap."""

    name: str
    size: int
    sha256: str | None
    data: bytes | None

    @property
    def skipped(self) -> bool:
        """True if the file was over the size cap and is recorded without content."""
        return self.data is None


def scan_directory(directory: Path) -> Iterator[tuple[str, Path]]:
    """Every regular file under `directory` (recursively, sorted); symlinks are not followed."""
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            log.warning("artifact %s is a symlink; not stored", path)
        elif path.is_file():
            yield path.relative_to(directory).as_posix(), path


def pack_file(name: str, path: Path, *, max_size: int) -> PackedFile:
    """Hash and gzip a file in one pass; over `max_size` it is recorded as skipped."""
    size = path.stat().st_size
    if size > max_size:
        return PackedFile(name=name, size=size, sha256=None, data=None)
    digest, compressor, parts, size = hashlib.sha256(), zlib.compressobj(6, zlib.DEFLATED, _GZIP), [], 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            if size > max_size:  # it grew while we read it
                return PackedFile(name=name, size=path.stat().st_size, sha256=None, data=None)
            digest.update(chunk)
            parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return PackedFile(name=name, size=size, sha256=digest.hexdigest(), data=b"".join(parts))


def store_blob(conn: Connection, packed: PackedFile) -> bool:
    """Store a packed file's content once; True if it was new."""
    if packed.data is None or packed.sha256 is None:
        return False
    present = select(ArtifactBlobModel.sha256).where(ArtifactBlobModel.sha256 == packed.sha256)
    if conn.execute(present).first() is not None:
        return False  # the same content from another run: not even sent
    inserted = conn.execute(
        pg_insert(ArtifactBlobModel)
        .values(sha256=packed.sha256, size=packed.size, compressed_size=len(packed.data), data=packed.data)
        .on_conflict_do_nothing(index_elements=[ArtifactBlobModel.sha256])
    ).rowcount
    return bool(inserted)


def index_artifacts(
    conn: Connection, *, run_id: str, batch_id: str, attempt: int, files: list[ArtifactInfo]
) -> None:
    """Record which files an attempt left (a repeated call overwrites the same names)."""
    if not files:
        return
    statement = pg_insert(AttemptArtifactModel)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id", "attempt", "name"],
            set_={
                "sha256": statement.excluded.sha256,
                "size": statement.excluded.size,
                "skipped": statement.excluded.skipped,
                "stored_at": func.now(),
            },
        ),
        [
            {
                "run_id": run_id,
                "batch_id": batch_id,
                "attempt": attempt,
                "name": info.name,
                "sha256": info.sha256,
                "size": info.size,
                "skipped": info.skipped,
            }
            for info in files
        ],
    )


def read_listing(
    conn: Connection, run_id: str, *, batch_id: str | None, attempt: int | None
) -> list[ArtifactInfo]:
    """The artifacts of one attempt: the given one, else the latest attempt that has any."""
    model = AttemptArtifactModel
    scope = [model.run_id == run_id] + ([model.batch_id == batch_id] if batch_id is not None else [])
    if attempt is None:
        attempt = conn.execute(select(func.max(model.attempt)).where(*scope)).scalar_one_or_none()
        if attempt is None:
            return []
    rows = conn.execute(
        select(model.batch_id, model.name, model.size, model.sha256, model.skipped)
        .where(*scope, model.attempt == attempt)
        .order_by(model.name)
    )
    return [
        ArtifactInfo(
            run_id=run_id,
            batch_id=row.batch_id,
            attempt=attempt,
            name=row.name,
            size=row.size,
            sha256=row.sha256,
            skipped=row.skipped,
        )
        for row in rows
    ]


def find_artifact(listing: list[ArtifactInfo], *, run_id: str, name: str) -> ArtifactInfo:
    """The entry named `name`; ConfigError naming what exists when it is missing or was skipped."""
    for info in listing:
        if info.name == name:
            if info.skipped or info.sha256 is None:
                raise ConfigError(
                    f"artifact {name!r} of run {run_id!r} attempt {info.attempt} was not stored: "
                    f"{info.size} bytes, over the size cap"
                )
            return info
    names = ", ".join(info.name for info in listing) or "none"
    raise ConfigError(f"run {run_id!r} has no artifact {name!r} (stored: {names})")


def write_blob(conn: Connection, sha256: str, *, destination: BinaryIO) -> int:
    """Decompress a blob into `destination` (bounded chunks), checking its digest; return its size."""
    data = conn.execute(select(ArtifactBlobModel.data).where(ArtifactBlobModel.sha256 == sha256)).scalar_one()
    decompressor, digest, written = zlib.decompressobj(_GZIP), hashlib.sha256(), 0
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        pending: bytes | memoryview = view[start : start + _CHUNK]
        while pending:
            # max_length keeps a highly compressible blob from expanding all at once.
            piece = decompressor.decompress(pending, _CHUNK)
            digest.update(piece)
            destination.write(piece)
            written += len(piece)
            pending = decompressor.unconsumed_tail
    tail = decompressor.flush()
    digest.update(tail)
    destination.write(tail)
    if digest.hexdigest() != sha256:
        raise StoreError(f"artifact blob {sha256} is corrupt: its content has another digest")
    return written + len(tail)
