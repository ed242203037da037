"""The reused worktrees (--reuse-worktrees) a dead worker left in `<runs dir>/.reuse/`.

A slot's lock record names the run whose files are in it (git/reuse.py): such a slot is that run's
leftover, saved to its branch (as `abandoned` if its attempt died) and removed under the run's
lease and lock, like a leftover at the run's own path. A slot with no run named holds nothing of
any run (saved, then reset, or not yet switched to the next run): it is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths, reuse_dir
from parallel_runs.errors import AlreadyHeldError, ParallelRunsError
from parallel_runs.git.resetting import discard_slot, hand_over
from parallel_runs.git.reuse import slot_lock
from parallel_runs.locks import OwnedLock
from parallel_runs.maintenance.model import RemovedWorktree, Skipped
from parallel_runs.maintenance.orphans import save_and_remove
from parallel_runs.maintenance.probing import holding

__all__ = ["DeadSlot", "SlotsDone", "dead_slots", "recover_slots", "recover_slots_of_run", "slot_run"]


@dataclass(frozen=True, slots=True)
class DeadSlot:
    """A slot whose worker died, its lock now held by us."""

    path: Path
    slug: str | None  # the run whose files are in it, if any
    record: Mapping[str, object] | None  # the dead worker's record

    def discard(self, repo: Path) -> None:
        """Remove its worktree: only for a slot that names no run, or whose run's files were saved."""
        discard_slot(repo, self.path)


def slot_run(record: Mapping[str, object] | None) -> str | None:
    """The slug a slot's record names (None between runs)."""
    slug = record.get("slug") if record else None
    return slug if isinstance(slug, str) and slug else None


@contextmanager
def dead_slots(
    runs_dir: Path, *, only: Callable[[str | None], bool] = lambda _: True
) -> Iterator[list[DeadSlot]]:
    """The slots no live worker holds (whose record's run passes `only`), their locks held by us
    while the caller saves or removes them; a slot whose worktree is gone loses its lock file."""
    home = reuse_dir(runs_dir)
    taken: list[tuple[OwnedLock, DeadSlot]] = []
    try:
        for lock_file in sorted(home.glob("*.lock")) if home.is_dir() else []:
            path = lock_file.with_suffix("")
            lock = slot_lock(path)
            # A live worker's slot is skipped without waiting on its lock (acquire's grace).
            if lock.is_locked() or not only(slot_run(lock.record())) or not lock.acquire():
                continue
            record = lock.previous_record
            taken.append((lock, DeadSlot(path, slot_run(record), record)))
        yield [slot for _, slot in taken]
    finally:
        for lock, slot in taken:
            if slot.path.exists() and slot.slug is not None:  # the run's files are still there
                lock.update_record(slug=slot.slug, attempt=(slot.record or {}).get("attempt"))
                lock.release_keeping_record()
                continue
            lock.release()
            if not slot.path.exists():
                lock.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class SlotsDone:
    """What became of the dead workers' slots."""

    recovered: tuple[RemovedWorktree, ...] = ()
    discarded: tuple[str, ...] = ()  # `.reuse/<name>` of the slots that held no run's files
    held: tuple[Skipped, ...] = ()  # named a run a live process holds now: left alone
    failed: tuple[Skipped, ...] = ()


def _name(runs_dir: Path, slot: DeadSlot) -> str:
    return str(slot.path.relative_to(runs_dir))


def recover_slots(
    repo: Path, runs_dir: Path, *, settings: git.SaveSettings | None = None, named: bool = True
) -> SlotsDone:
    """Save each dead slot that names a run to that run's branch, under its lease and lock, and remove
    it; remove each that names none. `named=False` (cleanup): leave the named ones to `recover`."""
    recovered: list[RemovedWorktree] = []
    discarded: list[str] = []
    held: list[Skipped] = []
    failed: list[Skipped] = []
    with dead_slots(runs_dir, only=lambda slug: named or slug is None) as slots:
        for slot in slots:
            try:
                if slot.slug is None:
                    slot.discard(repo)
                    discarded.append(_name(runs_dir, slot))
                    continue
                paths = RunPaths(runs_dir, slot.slug)
                with holding(paths) as stale:
                    try:
                        done = save_and_remove(
                            repo, paths, stale or slot.record, settings=settings, workspace=slot.path
                        )
                    except ParallelRunsError:
                        hand_over(repo, slot.path, paths.workspace)  # kept as the run's own leftover
                        raise
                    recovered.append(done)
            except AlreadyHeldError as exc:
                held.append(Skipped(slot.slug or "", None, f"its reused worktree {slot.path}: {exc}"))
            except ParallelRunsError as exc:
                failed.append(Skipped(slot.slug or _name(runs_dir, slot), None, f"{slot.path}: {exc}"))
    return SlotsDone(tuple(recovered), tuple(discarded), tuple(held), tuple(failed))


def recover_slots_of_run(
    repo: Path, runs_dir: Path, slug: str, save: Callable[[Path, Mapping[str, object] | None], object]
) -> None:
    """A dead worker's slot holds this run's files (the caller holds the run's lease and lock): `save`
    them to the run's branch and remove the slot (the run's next attempt finds its branch free)."""
    with dead_slots(runs_dir, only=lambda named: named == slug) as slots:
        for slot in slots:
            try:
                save(slot.path, slot.record)
            except ParallelRunsError:
                hand_over(repo, slot.path, RunPaths(runs_dir, slug).workspace)  # the run's own leftover now
                raise
