"""R5: a worker stopped (SIGSTOP) past its lease TTL, taken over by a worker on another clone, then
resumed (SIGCONT): its result is refused and the store's record of the run is unchanged.

The zombie is stopped at a random point: before worktree add, during its command, paused before a
save step, or during the artifact upload. The record is every row the store keeps of the run
(attempts, its lease row, artifact index, events), read once the rescuer has finished and again
after the zombie has ended. The zombie's own result.json must say `abandoned` and name why
(`superseded`), and the files it wrote must still be on a reachable commit of its clone.
"""

from __future__ import annotations

import json
import random
import secrets
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from parallel_runs.core.layout import RunPaths
from tests.chaos import kills
from tests.chaos.conftest import Figures, count
from tests.chaos.support import (
    Victim,
    clone,
    fsck_problems,
    lost_files,
    orphaned_worktrees,
    query,
    writer_command,
)

pytestmark = pytest.mark.chaos

TTL = 5.0
LANES = 3
PHASES = ("before-add", "command", "save", "upload")
RECORD = {
    "attempts": "select * from attempts where run_id = :r order by attempt",
    "lease": "select * from batch_runs where run_id = :r and batch_id = :b",
    "artifacts": "select * from attempt_artifacts where run_id = :r order by attempt, name",
    "events": "select * from events where run_id = :r order by id",
}


def _record(url: str, run_id: str, batch: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row the shared store keeps of the run."""
    return {name: query(url, sql, r=run_id, b=batch) for name, sql in RECORD.items()}


def _zombie_says(paths: RunPaths, where: str) -> list[str]:
    """What is wrong with the zombie's local result: it must be `abandoned`, superseded."""
    if not paths.result_json.exists():
        return (
            [] if where == "before worktree add" else [f"the zombie (stopped {where}) wrote no result.json"]
        )
    result = json.loads(paths.result_json.read_text())
    if result.get("status") == "abandoned" and "superseded" in result:
        return []
    return [f"the zombie's result.json says {result.get('status')!r} without 'superseded'"]


def _trial(
    lane: tuple[Path, Path], tmp: Path, url: str, trial: int, phase: str
) -> tuple[str | None, list[str]]:
    first, second = lane
    run_id, batch = f"zombie-{trial:03d}-{secrets.token_hex(2)}", f"z-{secrets.token_hex(4)}"
    manifests = tmp / "manifests" / f"z{trial}"
    manifests.mkdir(parents=True)
    chosen, paths = kills.plan(phase, random.Random()), RunPaths(first / ".autonomous_runs", run_id)
    args = ("--database-url", url, "--lease-ttl", f"{TTL:g}s", "--workers", "1")
    command = writer_command(manifests, **kills.writer_options(phase))
    zombie = Victim(
        "run", *args, "--batch-id", batch, "--run-ids", run_id, "--command", command,
        cwd=first, tmp=tmp, pause=chosen.pause, name=run_id,
    )  # fmt: skip
    where = kills.strike(zombie, chosen, paths, manifests, sig=signal.SIGSTOP)
    rescuer = Victim("worker", *args, "--batch", batch, cwd=second, tmp=tmp, name=f"{run_id}-rescuer")
    code, said = rescuer.finish(timeout=120)
    wrong = [] if code == 0 else [f"rescuer: exit {code}: {said[-400:]}"]
    before = _record(url, run_id, batch)
    zombie.signal(signal.SIGCONT)
    zombie_code, zombie_said = zombie.finish(timeout=120)
    if where is not None:
        wrong += _judge(url, run_id=run_id, batch=batch, before=before, paths=paths, where=where)
        wrong += [f"the zombie exited 0: {zombie_said[-400:]}"] if zombie_code == 0 else []
        wrong += _executed_after_takeover(url, run_id, manifests / f"{run_id}.1.started")
    for repo in lane:
        wrong += [f"orphaned worktree {tree}" for tree in orphaned_worktrees(repo, repo / ".autonomous_runs")]
        wrong += [f"fsck: {line}" for line in fsck_problems(repo)]
    return where, wrong + [f"lost {path}" for path in lost_files(manifests, first, second)]


def _judge(
    url: str,
    *,
    run_id: str,
    batch: str,
    before: dict[str, list[tuple[object, ...]]],
    paths: RunPaths,
    where: str,
) -> list[str]:
    """The record must be as the rescuer left it (attempt 1 abandoned, 2 succeeded), and stay so."""
    wrong = []
    if (after := _record(url, run_id, batch)) != before:
        changed = [name for name in RECORD if after[name] != before[name]]
        wrong.append(f"the zombie changed the store's {', '.join(changed)}: {after['attempts']}")
    statuses = query(url, "select attempt, status from attempts where run_id = :r order by attempt", r=run_id)
    if statuses[-2:] != [(1, "abandoned"), (2, "succeeded")]:
        wrong.append(f"not taken over: attempts {statuses}")
    return wrong + _zombie_says(paths, where)


def _executed_after_takeover(url: str, run_id: str, started: Path) -> list[str]:
    """A double execution: the zombie's command started after the rescuer had claimed the run."""
    [(claimed,)] = query(url, "select started_at from attempts where run_id = :r and attempt = 2", r=run_id)
    if started.exists() and started.stat().st_mtime > claimed.timestamp():  # type: ignore[attr-defined]
        return ["double execution: the zombie's command started after the takeover"]
    return []


@pytest.mark.scenario("R5 zombie worker")
@pytest.mark.timeout(3600)
def test_r5_a_worker_stopped_past_its_lease_cannot_change_the_record(
    repo: Path, tmp_path: Path, database_url: str, figures: Figures
) -> None:
    trials, stopped, problems = count(full=12, quick=3), Counter[str](), list[str]()
    lanes = [(clone(repo, tmp_path / f"a{n}"), clone(repo, tmp_path / f"b{n}")) for n in range(LANES)]
    with ThreadPoolExecutor(LANES) as pool:
        for first in range(0, trials, LANES):
            batch = range(first, min(trials, first + LANES))
            futures = [
                pool.submit(_trial, lanes[n], tmp_path, database_url, trial, PHASES[trial % len(PHASES)])
                for n, trial in enumerate(batch)
            ]
            for trial, future in zip(batch, futures, strict=True):
                where, wrong = future.result()
                stopped[where or "missed"] += 1
                problems += [f"trial {trial} ({where}): {problem}" for problem in wrong]
            refused = sum(stopped.values()) - stopped["missed"]
            figures.trials, figures.lost_changes = batch[-1] + 1, sum("lost " in p for p in problems)
            figures.faults = f"{refused} workers stopped past the TTL: " + ", ".join(
                f"{n} {where}" for where, n in sorted(stopped.items())
            )
            changed = sum("changed the store" in p for p in problems)
            figures.double_executions = sum("double execution" in p for p in problems)
            figures.notes = f"{refused - changed}/{refused} zombie results refused, record unchanged"
            if problems:
                break
    assert not problems, problems[:5]
    assert stopped["missed"] <= trials // 10, stopped
