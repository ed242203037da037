"""Artifact operations of the shared store (a mixin of SharedStore, split out for size)."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy.engine import Connection

from parallel_runs.store import artifacts as blobs
from parallel_runs.store import leases
from parallel_runs.store.artifacts import DEFAULT_MAX_ARTIFACT_SIZE, ArtifactInfo, PackedFile
from parallel_runs.store.protocol import Claim

__all__ = ["ArtifactAccess"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ArtifactAccess:
    """Store, list and read run artifacts; needs the host class's retried `_transaction`."""

    def _transaction(self, doing: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def store_artifacts(
        self,
        claim: Claim,
        directory: Path,
        *,
        max_size: int = DEFAULT_MAX_ARTIFACT_SIZE,
        instead: Mapping[str, Path] | None = None,
    ) -> list[ArtifactInfo]:
        """Store every file under `directory` for the claimed attempt (content once per sha256).

        `instead`: files to store in place of some of the directory's (by name).
        """
        files = []
        for name, found in blobs.scan_directory(directory):
            path = (instead or {}).get(name, found)
            try:
                packed = blobs.pack_file(name, path, max_size=max_size)
            except OSError as exc:
                log.warning("artifact %s could not be read (%s); not stored", path, exc)
                continue
            if packed.data is not None:  # one file's bytes in memory at a time
                self._transaction("store an artifact", functools.partial(_store_blob, packed=packed))
            files.append(
                ArtifactInfo(
                    run_id=claim.run_id,
                    batch_id=claim.batch_id,
                    attempt=claim.attempt,
                    name=name,
                    size=packed.size,
                    sha256=packed.sha256,
                    skipped=packed.skipped,
                )
            )

        def index(conn: Connection) -> None:
            leases.fence(conn, claim, doing="record its artifacts")
            blobs.index_artifacts(
                conn, run_id=claim.run_id, batch_id=claim.batch_id, attempt=claim.attempt, files=files
            )

        self._transaction("index artifacts", index)
        return files

    def list_artifacts(
        self, run_id: str, *, batch_id: str | None = None, attempt: int | None = None
    ) -> list[ArtifactInfo]:
        """The artifacts of a run's attempt (default: its latest attempt that stored any)."""
        return self._transaction(
            "list artifacts",
            lambda conn: blobs.read_listing(conn, run_id, batch_id=batch_id, attempt=attempt),
        )

    def _write_artifact(
        self,
        run_id: str,
        name: str,
        *,
        opener: Callable[[], BinaryIO],
        batch_id: str | None,
        attempt: int | None,
    ) -> ArtifactInfo:
        def copy(conn: Connection) -> ArtifactInfo:
            listing = blobs.read_listing(conn, run_id, batch_id=batch_id, attempt=attempt)
            info = blobs.find_artifact(listing, run_id=run_id, name=name)
            with opener() as out:  # opened per try: a retried copy starts from an empty file
                blobs.write_blob(conn, info.sha256 or "", destination=out)
            return info

        return self._transaction("read an artifact", copy)

    def copy_artifact(
        self,
        run_id: str,
        name: str,
        *,
        destination: Path,
        batch_id: str | None = None,
        attempt: int | None = None,
    ) -> ArtifactInfo:
        """Stream one artifact into `destination` (written beside it, then renamed into place)."""
        partial = destination.with_name(f".{destination.name}.partial")
        try:
            info = self._write_artifact(
                run_id, name, opener=lambda: partial.open("wb"), batch_id=batch_id, attempt=attempt
            )
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(destination)
        return info

    def read_artifact(
        self, run_id: str, name: str, *, batch_id: str | None = None, attempt: int | None = None
    ) -> bytes:
        """One artifact's bytes, in memory (up to the size cap); `copy_artifact` streams to a file."""
        buffers: list[io.BytesIO] = []

        def opener() -> BinaryIO:
            buffers.append(_KeptOpen())
            return buffers[-1]

        self._write_artifact(run_id, name, opener=opener, batch_id=batch_id, attempt=attempt)
        return buffers[-1].getvalue()


class _KeptOpen(io.BytesIO):
    """A BytesIO whose content survives the `with` block that writes it."""

    def __exit__(self, *args: object) -> None:
        return None


def _store_blob(conn: Connection, *, packed: PackedFile) -> bool:
    return blobs.store_blob(conn, packed)
