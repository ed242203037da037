"""A local spool of final results the shared store could not take: one JSON file per result.

A result is spooled when the database stays unreachable through every retry, and replayed later
under the same fencing token, so a replay after a takeover is refused like any stale write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from parallel_runs.core.model import Attempt, Outcome, TestSummary
from parallel_runs.store import finishing
from parallel_runs.store.protocol import Claim, LeaseOwner

__all__ = ["Replayed", "SpoolEntry", "SpoolReport", "read_entries", "replay", "set_aside", "write_entry"]

log = logging.getLogger(__name__)

_FORMAT = 1
_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled result and the claim it must be written under."""

    path: Path
    claim: Claim
    result: Attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolReport:
    """What a flush did: results written, refused (lease taken over), still waiting."""

    stored: int = 0
    rejected: int = 0
    remaining: int = 0


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Outcome):
        return value.value
    if isinstance(value, LeaseOwner):
        return {"host": value.host, "pid": value.pid, "worker_id": value.worker_id}
    if isinstance(value, TestSummary):
        return value.to_json()
    return value


def _decode(cls: type[Any], data: dict[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for declared in fields(cls):
        value = data.get(declared.name)
        annotation = str(declared.type)
        if value is not None and annotation.startswith("datetime"):
            value = datetime.fromisoformat(value)
        elif declared.name == "outcome":
            value = Outcome(str(value))
        elif declared.name == "owner":
            value = LeaseOwner(**dict(value or {}))
        elif declared.name == "tests" and value is not None:
            value = TestSummary.from_json(value)
        elif declared.name == "restored_files":
            value = tuple(value or ())
        if declared.name in data:
            values[declared.name] = value
    return cls(**values)


def write_entry(directory: Path, *, claim: Claim, result: Attempt) -> Path:
    """Write one entry atomically (temp file, fsync, rename); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = f"{claim.batch_id}\0{claim.run_id}\0{claim.attempt}\0{claim.fencing_token}"
    name = f"{claim.slug}.{claim.attempt}.{hashlib.sha256(key.encode()).hexdigest()[:12]}{_SUFFIX}"
    document = {
        "format": _FORMAT,
        "claim": {f.name: _encode(getattr(claim, f.name)) for f in fields(Claim)},
        "result": {f.name: _encode(getattr(result, f.name)) for f in fields(Attempt)},
    }
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".spool-", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    path = directory / name
    Path(temp).replace(path)
    return path


def _load(path: Path) -> SpoolEntry:
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != _FORMAT:
        raise ValueError(f"unknown spool format {document.get('format')!r}")
    return SpoolEntry(path, _decode(Claim, document["claim"]), _decode(Attempt, document["result"]))


def read_entries(directory: Path) -> list[SpoolEntry]:
    """Every readable entry, oldest name first; unreadable files are set aside as `.corrupt`."""
    if not directory.is_dir():
        return []
    entries = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        try:
            entries.append(_load(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("spooled result %s is unreadable (%s); set aside", path, exc)
            set_aside(path, "corrupt")
    return entries


def set_aside(path: Path, reason: str) -> Path:
    """Keep an entry that will never be written (renamed, never deleted: nothing is lost)."""
    target = path.with_name(f"{path.name}.{reason}")
    path.replace(target)
    return target


@dataclass(slots=True)
class Replayed:
    """Spooled entries a transaction wrote or found refused; settled once it committed."""

    stored: list[Path] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)

    def settle(self) -> None:
        """Delete the written entries, set the refused ones aside (another thread may have done so)."""
        for path in self.stored:
            path.unlink(missing_ok=True)
        for path in self.rejected:
            with contextlib.suppress(FileNotFoundError):
                set_aside(path, "rejected")


def replay(conn: Connection, directory: Path | None) -> Replayed:
    """Write every spooled result under its claim's token, in the caller's transaction."""
    done = Replayed()
    entries = read_entries(directory) if directory is not None else []
    outcomes = finishing.finish_claims(
        conn, [finishing.Finish(entry.claim, entry.result) for entry in entries]
    )
    for entry, refusal in zip(entries, outcomes, strict=True):
        if refusal is not None:
            log.warning("spooled result %s refused: %s", entry.path, refusal)
            done.rejected.append(entry.path)
        else:
            done.stored.append(entry.path)
    return done
