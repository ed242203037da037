"""Run artifacts in the shared store: byte-identical round trips, dedupe, size cap."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, create_engine, func, select
from sqlalchemy.pool import NullPool

from parallel_runs.errors import ConfigError
from parallel_runs.store import BatchDefinition, Claim, LeaseOwner, SharedStore
from parallel_runs.store.models import ArtifactBlobModel, AttemptArtifactModel
from parallel_runs.store.urls import parse_postgres_url

ME = LeaseOwner.here("artifacts")
CAP = 2 * 1024 * 1024


def _claim(store: SharedStore, batch: BatchDefinition) -> Claim:
    claim = store.claim_next(batch_id=batch.batch_id, owner=ME)
    assert claim is not None
    return claim


def _artifacts_dir(root: Path, *, log: bytes) -> Path:
    root.mkdir()
    (root / "run.log").write_bytes(log)
    (root / "changes.patch").write_text("diff --git a/x b/x\n+héllo\n", encoding="utf-8")
    (root / "ci").mkdir()
    (root / "ci" / "baseline.json").write_text('{"failed": []}')
    (root / "big.bin").write_bytes(os.urandom(CAP + 1))
    (root / "link").symlink_to("/etc/hostname")
    return root


def _rows(database_url: str, query: Select[Any]) -> list[tuple[Any, ...]]:
    engine = create_engine(parse_postgres_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def _blob_count(database_url: str) -> int:
    """Rows of the blob table, whatever their content."""
    [(count,)] = _rows(database_url, select(func.count()).select_from(ArtifactBlobModel))
    return int(count)


def test_artifacts_round_trip_byte_identical_and_are_stored_once(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], database_url: str, tmp_path: Path
) -> None:
    batch = make_batch(2)
    log = os.urandom(1024 * 1024) + b"\x00\r\n tail" * 1000  # binary, over one read chunk
    first, second = _claim(store, batch), _claim(store, batch)
    stored = store.store_artifacts(first, _artifacts_dir(tmp_path / "a", log=log), max_size=CAP)
    blobs_after_first = _blob_count(database_url)
    again = store.store_artifacts(second, _artifacts_dir(tmp_path / "b", log=log), max_size=CAP)
    # The same content from a second run adds no blob row: it is stored once.
    assert _blob_count(database_url) == blobs_after_first

    assert [(a.name, a.skipped) for a in stored] == [
        ("big.bin", True),
        ("changes.patch", False),
        ("ci/baseline.json", False),
        ("run.log", False),
    ]
    assert store.list_artifacts(first.run_id) == stored
    assert store.read_artifact(first.run_id, "run.log") == log
    assert store.read_artifact(second.run_id, "run.log", batch_id=batch.batch_id, attempt=1) == log
    target = tmp_path / "out" / "changes.patch"
    target.parent.mkdir()
    info = store.copy_artifact(first.run_id, "changes.patch", destination=target)
    assert target.read_bytes() == (tmp_path / "a" / "changes.patch").read_bytes()
    assert info.size == target.stat().st_size
    assert sorted(p.name for p in target.parent.iterdir()) == ["changes.patch"]

    [log_info] = [a for a in stored if a.name == "run.log"]
    assert log_info.sha256 == hashlib.sha256(log).hexdigest()
    assert [(a.name, a.sha256) for a in again] == [(a.name, a.sha256) for a in stored]
    # Both runs' rows point at that one blob, which holds the log's size.
    artifact = AttemptArtifactModel
    rows = _rows(
        database_url,
        select(artifact.run_id, artifact.sha256)
        .where(artifact.run_id.in_([first.run_id, second.run_id]), artifact.name == "run.log")
        .order_by(artifact.run_id),
    )
    assert rows == sorted([(first.run_id, log_info.sha256), (second.run_id, log_info.sha256)])
    blob = select(ArtifactBlobModel.size).where(ArtifactBlobModel.sha256 == log_info.sha256)
    assert _rows(database_url, blob) == [(len(log),)]


def test_oversize_files_are_recorded_as_skipped_with_their_size(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], tmp_path: Path
) -> None:
    claim = _claim(store, make_batch(1))
    store.store_artifacts(claim, _artifacts_dir(tmp_path / "a", log=b"x"), max_size=CAP)
    [big] = [a for a in store.list_artifacts(claim.run_id) if a.name == "big.bin"]
    assert (big.skipped, big.size, big.sha256) == (True, CAP + 1, None)
    with pytest.raises(ConfigError, match=r"'big.bin' .* was not stored: 2097153 bytes, over the size cap"):
        store.read_artifact(claim.run_id, "big.bin")
    with pytest.raises(ConfigError, match=r"has no artifact 'nope' \(stored: big.bin, changes.patch"):
        store.read_artifact(claim.run_id, "nope")


def test_stored_blobs_are_plain_gzip(
    store: SharedStore, make_batch: Callable[..., BatchDefinition], database_url: str, tmp_path: Path
) -> None:
    claim = _claim(store, make_batch(1))
    (tmp_path / "run.log").write_bytes(b"hello " * 10_000)
    [info] = store.store_artifacts(claim, tmp_path)
    engine = create_engine(parse_postgres_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(ArtifactBlobModel.data, ArtifactBlobModel.compressed_size).where(
                    ArtifactBlobModel.sha256 == info.sha256
                )
            ).one()
    finally:
        engine.dispose()
    assert gzip.decompress(row.data) == b"hello " * 10_000
    assert row.compressed_size < 1000


def test_a_run_without_artifacts_lists_none(store: SharedStore) -> None:
    assert store.list_artifacts("never-ran") == []
    with pytest.raises(ConfigError, match=r"no artifact 'run.log' \(stored: none\)"):
        store.read_artifact("never-ran", "run.log")
