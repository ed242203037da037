"""R2: SIGKILL the supervisor (and its git) at random points of an attempt, then recover and re-run.

File mode: `run` is killed, then `recover`, then the same `run` again. PostgreSQL mode: `run` on
one clone is killed while a `worker` on another clone waits; the worker must take the run over
once its lease expires (within the lease TTL and one idle poll), then `recover` on the first clone.
The run's command writes files it lists (writer.py) and lingers. After each trial: no orphaned
worktree, every listed file on a commit reachable from the refs, `git fsck` clean, no attempt
left `running`, and no command of the killed supervisor still alive.
"""

from __future__ import annotations

import random
import secrets
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
from tests.helpers import processes_with, run_cli

pytestmark = pytest.mark.chaos

TTL = 5.0
IDLE_POLL = 1.0  # an idle worker looks for expired leases this often (batch/pool.py)
SLACK = 1.0


def _command(manifests: Path, phase: str, linger: Path) -> str:
    """The run's command; killed during it, it lingers (as an agent would) until recover stops it."""
    lingers = {"linger": 600, "linger_while": linger} if phase == "command" else {}
    return writer_command(manifests, **kills.writer_options(phase), **lingers)


def _aftermath(repos: list[Path], manifests: Path, trial: str) -> list[str]:
    """What a trial left wrong: orphans, fsck errors, commands still alive."""
    wrong = [
        f"orphaned worktree {tree}"
        for repo in repos
        for tree in orphaned_worktrees(repo, repo / ".autonomous_runs")
    ]
    wrong += [f"fsck: {line}" for repo in repos for line in fsck_problems(repo)]
    wrong += [
        f"command of the killed supervisor alive: pid {pid}"
        for pid in processes_with(f"{manifests}/{trial}/")
    ]
    return wrong


def _file_trial(
    repo: Path, tmp: Path, trial: int, phase: str, rng: random.Random
) -> tuple[str | None, list[str]]:
    run_id, manifests, linger = f"kill-{trial:03d}", tmp / "manifests" / f"{trial}", tmp / f"linger-{trial}"
    manifests.mkdir(parents=True)
    linger.touch()
    chosen, paths = kills.plan(phase, rng), RunPaths(repo / ".autonomous_runs", run_id)
    command = _command(manifests, phase, linger)
    victim = Victim(
        "run", "--run-ids", run_id, "--command", command, cwd=repo, tmp=tmp, pause=chosen.pause, name=run_id
    )
    where = kills.strike(victim, chosen, paths, manifests)
    victim.finish()
    where = (
        f"{where}, left {'+'.join(locks)}" if where and (locks := kills.left_locks(repo, paths)) else where
    )
    wrong = []
    if (done := run_cli("recover", cwd=repo)).returncode != 0:
        wrong.append(f"recover: exit {done.returncode}: {done.stdout + done.stderr}")
    wrong += _aftermath([repo], tmp / "manifests", str(trial))
    linger.unlink()
    if (again := run_cli("run", "--run-ids", run_id, "--command", command, cwd=repo)).returncode != 0:
        wrong.append(f"re-run: exit {again.returncode}: {again.stdout + again.stderr}")
    rows = (repo / ".autonomous_runs" / run_id / f"{run_id}.db").exists()
    if rows and "running" in run_cli("report", "--format", "json", cwd=repo).stdout:
        wrong.append("an attempt is still recorded running")
    return where, wrong + [f"lost {path}" for path in lost_files(manifests, repo)]


@pytest.mark.scenario("R2 kills, file mode")
@pytest.mark.timeout(3600)
def test_r2_kill_9_at_random_points_then_recover_in_file_mode(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    trials, rng, landed = count(full=50, quick=4), random.Random(), Counter[str]()
    problems: list[str] = []
    for trial in range(trials):
        where, wrong = _file_trial(repo, tmp_path, trial, kills.PHASES[trial % 4], rng)
        landed[where or "missed"] += 1
        problems += [f"trial {trial} ({where}): {problem}" for problem in wrong]
        figures.trials, figures.lost_changes = trial + 1, sum("lost " in p for p in problems)
        figures.faults = f"{sum(landed.values()) - landed['missed']} kills landed: " + ", ".join(
            f"{n} {where}" for where, n in sorted(landed.items())
        )
        figures.notes = f"{len(problems)} problems (orphans, fsck, survivors, records)"
        if problems:
            break
    assert not problems, problems[:5]
    assert landed["missed"] <= trials // 10, landed


def _pg_trial(
    lane: tuple[Path, Path], tmp: Path, url: str, trial: int, phase: str
) -> tuple[str | None, float | None, list[str]]:
    (first, second), rng = lane, random.Random()
    run_id, batch = f"pgkill-{trial:03d}-{secrets.token_hex(2)}", f"kill-{secrets.token_hex(4)}"
    manifests, linger = tmp / "manifests" / f"p{trial}", tmp / f"linger-p{trial}"
    manifests.mkdir(parents=True)
    linger.touch()
    chosen, paths = kills.plan(phase, rng), RunPaths(first / ".autonomous_runs", run_id)
    args = ("--database-url", url, "--lease-ttl", f"{TTL:g}s", "--workers", "1")
    command = _command(manifests, phase, linger)
    victim = Victim(
        "run",
        *args,
        "--batch-id",
        batch,
        "--run-ids",
        run_id,
        "--command",
        command,
        cwd=first,
        tmp=tmp,
        pause=chosen.pause,
        name=run_id,
    )
    where = kills.strike(victim, chosen, paths, manifests)
    rescuer = Victim("worker", *args, "--batch", batch, cwd=second, tmp=tmp, name=f"{run_id}-rescuer")
    victim.finish()
    where = (
        f"{where}, left {'+'.join(locks)}" if where and (locks := kills.left_locks(first, paths)) else where
    )
    code, said = rescuer.finish(timeout=120)
    wrong = [] if code == 0 else [f"rescuer: exit {code}: {said[-400:]}"]
    if (done := run_cli("recover", cwd=first)).returncode != 0:
        wrong.append(f"recover: exit {done.returncode}: {done.stdout + done.stderr}")
    wrong += _aftermath([first, second], tmp / "manifests", f"p{trial}")
    rows = query(
        url, "select attempt, status, started_at from attempts where run_id = :r order by attempt", r=run_id
    )
    wrong += [f"attempt {a} still {s}" for a, s, _ in rows if s == "running"]
    if rows[-1][1] != "succeeded":
        wrong.append(f"the run ended {rows[-1][1]}: {rows}")
    takeover = None
    if len(rows) > 1 and victim.signalled_at is not None:
        takeover = rows[1][2].timestamp() - victim.signalled_at  # type: ignore[union-attr]
        if takeover > TTL + IDLE_POLL + SLACK:
            wrong.append(f"taken over {takeover:.1f}s after the kill (lease TTL {TTL:g}s)")
    return where, takeover, wrong + [f"lost {path}" for path in lost_files(manifests, first, second)]


LANES = 3  # trials at once, each on a pair of clones of its own: most of a trial is waiting for the TTL


@pytest.mark.scenario("R2 kills, PostgreSQL mode")
@pytest.mark.timeout(3600)
def test_r2_kill_9_at_random_points_then_takeover_in_postgres_mode(
    repo: Path, tmp_path: Path, database_url: str, figures: Figures
) -> None:
    trials, landed, takeovers = count(full=50, quick=5), Counter[str](), list[float]()
    lanes = [(clone(repo, tmp_path / f"a{n}"), clone(repo, tmp_path / f"b{n}")) for n in range(LANES)]
    problems: list[str] = []
    with ThreadPoolExecutor(LANES) as pool:
        for first in range(0, trials, LANES):
            batch = range(first, min(trials, first + LANES))
            phases = [kills.PHASES[trial % len(kills.PHASES)] for trial in batch]
            futures = [
                pool.submit(_pg_trial, lanes[n], tmp_path, database_url, trial, phase)
                for n, (trial, phase) in enumerate(zip(batch, phases, strict=True))
            ]
            for trial, future in zip(batch, futures, strict=True):
                where, takeover, wrong = future.result()
                landed[where or "missed"] += 1
                takeovers += [takeover] if takeover is not None else []
                problems += [f"trial {trial} ({where}): {problem}" for problem in wrong]
            figures.trials, figures.lost_changes = batch[-1] + 1, sum("lost " in p for p in problems)
            figures.faults = f"{sum(landed.values()) - landed['missed']} kills landed: " + ", ".join(
                f"{n} {where}" for where, n in sorted(landed.items())
            )
            slowest = f"{max(takeovers):.1f}s" if takeovers else "-"
            figures.notes = (
                f"{len(takeovers)} takeovers, slowest {slowest} (TTL {TTL:g}s); {len(problems)} problems"
            )
            if problems:
                break
    assert not problems, problems[:5]
    assert landed["missed"] <= trials // 10, landed
