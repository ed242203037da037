"""R12 (issue #22): --reuse-worktrees resets a worker's worktree between runs and loses nothing.

Every run first probes its worktree (reuse_probe.py: anything a fresh worktree of the run would not
hold, outside the kept `node_modules`), then leaves it dirty in one of R6's ways or a reuse-specific
one (ignored files, a nested repository under an ignored directory, symlinks out of the worktree and
in place of a tracked directory, names that are not UTF-8 or begin with dashes, a bisect and a
per-worktree ref), then captures what it holds (capture.py). Two workers run every case, so each
probe looks at what another case left in the same worktree. Then the same with the supervisor
killed while two runs sleep in reused worktrees, and `recover`. After each: no probe found
anything, every captured blob is on a reachable commit (or, for a worktree git cannot save, still
in place at the run's own path), nothing outside the repository was touched through a symlink, no
worktree is left but those, and fsck is clean.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
from pathlib import Path

import pytest

from tests.chaos.conftest import Figures, count
from tests.chaos.support import Victim, fsck_problems, orphaned_worktrees, wait_until
from tests.chaos.test_r6_dirty import CAPTURE, CASES, ODD_NAMES, _lost, _unexpected_failures
from tests.helpers import git, run_cli

pytestmark = pytest.mark.chaos

PROBE = Path(__file__).with_name("reuse_probe.py")
KEPT = "node_modules"
SETUP = f"mkdir -p {KEPT} && echo dep > {KEPT}/dep.js"
FLAGS = ("--reuse-worktrees", "--keep-ignored", KEPT, "--setup-command", SETUP)
# name: (kept on disk rather than saved, the script); $OUTSIDE is a directory outside the repository.
REUSE_CASES: dict[str, tuple[bool, str]] = {
    **CASES,
    "ignored": (
        False,
        "echo j > junk.log; mkdir -p ignored/deep app/cache; echo i > ignored/deep/x; "
        "echo l > app/cache/a.log",
    ),
    "nested-ignored": (
        False,
        "mkdir -p ignored; git init -q ignored/nested; echo n > ignored/nested/f; echo t-$RANDOM > t.txt",
    ),
    "symlinks-out": (
        False,
        'ln -s "$OUTSIDE" out; ln -s "$OUTSIDE/sentinel" s.log; rm -rf app; ln -s "$OUTSIDE" app; '
        'mkdir -p ignored; ln -s "$OUTSIDE" ignored/link',
    ),
    "not-utf8": (
        False,
        "echo a-$RANDOM > $'\\xff\\xfe-bad'; echo b > $'-\\xff.log'; mkdir -p $'--force\\n' ignored; "
        "echo c > $'--force\\n/\\xfe'; echo d > $'ignored/\\xfa\\xfb'; mkdir -p ' ' && echo e > ' /-rf'",
    ),
    "git-state": (
        False,
        "git bisect start -q 2>/dev/null || git bisect start; git bisect bad HEAD >/dev/null; "
        "git update-ref refs/worktree/mine HEAD; echo s-$RANDOM > state.txt",
    ),
}


def _command(cases: Path, probes: Path, captures: Path, then: str = "") -> str:
    """Probe what earlier runs left, make the case named by the run id's tail, capture, then `then`."""
    probe = f"{sys.executable} {PROBE} {probes}/$PARALLEL_RUNS_SLUG.json {KEPT}"
    capture = f"{sys.executable} {CAPTURE} {captures}/$PARALLEL_RUNS_SLUG.json"
    return f'{probe}; bash {cases}/"${{PARALLEL_RUNS_RUN_ID#*-}}".sh; {capture}; {then}'


def _found(probes: Path) -> list[str]:
    return [
        f"{path.stem}: {problem}"
        for path in sorted(probes.glob("*.json"))
        for problem in json.loads(path.read_text())["problems"]
    ]


def _all_there(ready: Path, slugs: list[str]) -> bool:
    return all((ready / slug).exists() for slug in slugs)


def _kept(runs_dir: Path, ids: list[str]) -> set[str]:
    return {str(runs_dir / "workspaces" / slug) for slug in ids if REUSE_CASES[slug.split("-", 1)[1]][0]}


@pytest.mark.scenario("R12 reused worktrees")
@pytest.mark.timeout(1800)
def test_r12_a_reused_worktree_holds_nothing_of_earlier_runs_and_loses_nothing(
    repo: Path, tmp_path: Path, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds, runs_dir = count(full=5, quick=1), repo / ".autonomous_runs"
    cases, outside = tmp_path / "cases", tmp_path / "outside"
    cases.mkdir()
    outside.mkdir()
    (outside / "sentinel").write_text("untouched\n")
    for name, (_, script) in REUSE_CASES.items():
        (cases / f"{name}.sh").write_text(f"{ODD_NAMES}\n{script}\n")
    (repo / ".gitignore").write_text(f"*.pyc\nignored/\n{KEPT}\n*.log\n")
    (repo / "HISTORY.md").write_text("a second commit: HEAD~1 of a fresh worktree is a commit too\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    monkeypatch.setenv("OUTSIDE", str(outside))  # the cases' scripts link to it
    problems, lost, kept, trials, kills = list[str](), list[str](), set[str](), 0, 0
    names = list(REUSE_CASES)
    savable = [name for name in names if not REUSE_CASES[name][0]]  # a kill's recover saves them all
    for round_ in range(rounds):
        # A normal end: every case once, the last two runs only probing what the cases before them left.
        probes, captures = tmp_path / f"probes-n{round_}", tmp_path / f"captures-n{round_}"
        probes.mkdir()
        captures.mkdir()
        (cases / "none.sh").write_text("true\n")
        ids = [f"n{round_}{n:02d}-{name}" for n, name in enumerate(names)]
        probe_only = [f"n{round_}98-none", f"n{round_}99-none"]
        done = run_cli(
            "run", "--run-ids", ",".join(ids + probe_only), "--workers", "2", *FLAGS,
            "--command", _command(cases, probes, captures), cwd=repo, timeout=900,
        )  # fmt: skip
        if done.returncode not in (0, 1):
            problems.append(f"normal end: exit {done.returncode}: {(done.stdout + done.stderr)[-400:]}")
        trials += len(ids)
        problems += _found(probes)
        lost += _lost(repo, runs_dir, captures, ids, REUSE_CASES)
        kept |= _kept(runs_dir, ids)
        # Killed while two runs sleep in reused worktrees (after the other cases ran in them): recover.
        probes, captures, ready = (tmp_path / f"{what}-k{round_}" for what in ("probes", "captures", "ready"))
        for made in (probes, captures, ready):
            made.mkdir()
        sleepers = [savable[(2 * round_) % len(savable)], savable[(2 * round_ + 1) % len(savable)]]
        quick = [f"k{round_}{n:02d}-{name}" for n, name in enumerate(names) if name not in sleepers]
        slow = [f"k{round_}{90 + n}-{name}" for n, name in enumerate(sleepers)]
        then = (
            f'case "$PARALLEL_RUNS_RUN_ID" in k*9[0-9]-*) touch {ready}/$PARALLEL_RUNS_SLUG; sleep 600;; esac'
        )
        victim = Victim(
            "run", "--run-ids", ",".join(quick + slow), "--workers", "2", *FLAGS,
            "--command", _command(cases, probes, captures, then), cwd=repo, tmp=tmp_path, name=f"k{round_}",
        )  # fmt: skip
        started = wait_until(functools.partial(_all_there, ready, slow), timeout=600, step=0.05)
        victim.signal(signal.SIGKILL)
        victim.finish()
        if not started:
            problems.append("kill: the sleeping runs never started")
            break
        kills = round_ + 1
        recovered = run_cli("recover", cwd=repo)
        problems += _unexpected_failures("recover", recovered)  # exit 1 only for what git cannot save
        problems += [
            f"recover did not save {slug}" for slug in slow if f"recovered {slug}" not in recovered.stdout
        ]
        trials += len(quick) + len(slow)
        problems += _found(probes)
        lost += _lost(repo, runs_dir, captures, quick + slow, REUSE_CASES)
        kept |= _kept(runs_dir, quick + slow)
        if (outside / "sentinel").read_text() != "untouched\n" or sorted(
            p.name for p in outside.iterdir()
        ) != ["sentinel"]:
            problems.append(f"something outside the repository changed: {sorted(outside.iterdir())}")
        problems += [f"left: {tree}" for tree in orphaned_worktrees(repo, runs_dir) if tree not in kept]
        problems += [f"slot left: {path}" for path in (runs_dir / ".reuse").iterdir()]
        problems += fsck_problems(repo)
        figures.trials, figures.lost_changes = trials, len(lost)
        figures.faults = f"{len(REUSE_CASES)} kinds of dirty worktree probed by the next run; {kills} kills"
        figures.notes = f"{len(problems)} problems (leftovers a run found, worktrees, fsck, exit codes)"
        if lost or problems:
            break
    assert not lost, lost[:10]
    assert not problems, "\n".join(problems[:10])
