"""Where a signal lands in a supervisor's attempt (R2 kills, R5 stops): plan a phase, wait for it, signal.

Phases: before `git worktree add` (the supervisor's git pauses there), during the command (while it
writes its files), during the save (paused before one of its git steps, or in the middle of
`git add`), and during the artifact upload (result.json is written just before it; PostgreSQL only).
Where the signal really landed is read from what exists at that moment, not assumed.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.layout import RunPaths
from tests.chaos.support import Victim, wait_until

SAVE_STEPS = ("add", "write-tree", "commit-tree", "update-ref", "diff")
PHASES = ("before-add", "command", "save", "save-mid", "upload")


@dataclass(frozen=True, slots=True)
class Plan:
    """Where to signal: the phase, the git step to pause before (if any), the delay after the trigger."""

    phase: str
    pause: str | None
    delay: float
    step: str = "add"  # save-mid: the git step whose start sets the delay off


def plan(phase: str, rng: random.Random) -> Plan:
    """A random point inside `phase`."""
    if phase == "before-add":
        return Plan(phase, "worktree add:3", rng.uniform(0, 1.0))
    if phase == "save":
        return Plan(phase, f"{rng.choice(SAVE_STEPS)}:3", rng.uniform(0, 0.8))
    if phase == "command":
        return Plan(phase, None, rng.uniform(0, 1.2))
    if (
        phase == "save-mid"
    ):  # git killed while it holds a lock: the index's, the scratch index's, the branch's
        step, longest = rng.choice([("add", 0.25), ("write-tree", 0.04), ("update-ref", 0.01)])
        return Plan(phase, None, rng.uniform(0, longest), step=step)
    return Plan(phase, None, rng.uniform(0, 0.4))


def writer_options(phase: str) -> dict[str, object]:
    """What the run's command writes, so that the phase lasts long enough to land in."""
    options: dict[str, object] = {"files": 300, "binary": 2_000_000, "slow": 1.0}
    if phase == "save-mid":
        options |= {"files": 800, "binary": 6_000_000}
    if phase == "upload":
        options |= {"log": 24_000_000}
    return options


def _triggered(victim: Victim, chosen: Plan, paths: RunPaths, manifests: Path) -> bool:
    calls = victim.git_calls()
    if chosen.pause is not None:
        return f"paused {chosen.pause.split(':')[0].split()[0]}" in calls
    if chosen.phase == "command":
        return (manifests / f"{paths.slug}.1.started").exists()
    if chosen.phase == "save-mid":
        return "add --all" in calls and chosen.step in (line.split(" ")[0] for line in calls)
    return paths.result_json.exists()


def landed(victim: Victim, paths: RunPaths, manifests: Path) -> str:
    """Where the supervisor was when it was signalled, from what exists now."""
    calls = victim.git_calls()
    if not paths.workspace.exists() or calls[-1:] == ["paused worktree"]:
        return "before worktree add"
    if paths.result_json.exists():
        return "after the save (record, upload)"
    if not (manifests / f"{paths.slug}.1.done").exists() or "add --all" not in calls:
        return "during the command"
    return "during the save"


def strike(
    victim: Victim, chosen: Plan, paths: RunPaths, manifests: Path, sig: signal.Signals = signal.SIGKILL
) -> str | None:
    """Wait for the phase, then signal the supervisor after the plan's delay; where it landed, or None."""
    if not wait_until(lambda: _triggered(victim, chosen, paths, manifests), timeout=60):
        return None
    time.sleep(chosen.delay)
    if victim.process.poll() is not None:
        return None
    where = landed(victim, paths, manifests)
    victim.signal(sig)
    return where


def left_locks(repo: Path, paths: RunPaths) -> list[str]:
    """Lock files the killed supervisor's git left behind (each would block later saves if kept)."""
    gitdir = repo / ".git" / "worktrees" / paths.slug
    found = [gitdir / name for name in ("index.lock", "HEAD.lock", "parallel-runs.index.lock")]
    found.append(repo / ".git" / "refs" / "heads" / f"{paths.branch}.lock")
    return [lock.name for lock in found if lock.exists()]
