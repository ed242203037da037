"""R6: worktrees left dirty in every way git allows, saved by a normal end, by `recover` after a
kill, and by `cleanup` of a kept worktree.

Some cases change what git reads for every worktree (the shared config, info/attributes, the
index's flags, issue #16): every other run's save, and the run's own, must still keep every file.
Each case is a shell script run in the worktree: by the run's command (normal end; kill then
`recover`), or by hand in a worktree kept with --keep-worktrees (then `cleanup`). Right after it,
capture.py notes what the worktree holds: the blobs `git add -A` would save and those of the
commits on HEAD, on the run branch and (cleanup) the commit the run's save had recorded. After the
tool is done, each must be on a commit reachable from the refs; a worktree git cannot save (its
`.git` file deleted, a nested repository) must instead still hold every file where it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.chaos.conftest import Figures, count
from tests.chaos.support import Victim, fsck_problems, orphaned_worktrees, reachable_objects, wait_until
from tests.helpers import git, run_cli

pytestmark = pytest.mark.chaos

CAPTURE = Path(__file__).with_name("capture.py")
COMMIT = "git add -A && git commit -q -m"
COMMON = '"$(git rev-parse --path-format=absolute --git-common-dir)"'
ATTRS = '"$(git rev-parse --path-format=absolute --git-common-dir)/info/attributes"'
FLAG = "git update-index"
EDITS = "echo e-$RANDOM > e.txt; echo edit-$RANDOM >> README.md; echo more >> app/calc.py"
# Cases that change the repository's shared git state: what a run does, not what a user does by
# hand in a kept worktree (their own config is theirs to choose), so not on the cleanup path.
SHARED_STATE = frozenset({"excludes-file", "clean-filter", "ignore-stat", "include"})
# name: (kept on disk rather than saved, the script)
CASES: dict[str, tuple[bool, str]] = {
    "tracked": (False, "echo changed-$RANDOM >> README.md; echo more >> app/calc.py"),
    "untracked": (False, "mkdir -p new/deep; echo n-$RANDOM > new/deep/file.txt; echo top > top.txt"),
    "deleted": (False, "git rm -q app/calc.py; rm README.md; echo x-$RANDOM > x.txt"),
    "own-commits": (
        False,
        f"echo c1-$RANDOM > c1.txt; {COMMIT} c1; echo c2 > c2.txt; {COMMIT} c2; echo d > d.txt",
    ),
    "other-branch": (
        False,
        f"echo m-$RANDOM > mine.txt; {COMMIT} mine; git checkout -q -b other-$RANDOM; "
        f"echo o > other.txt; {COMMIT} other; echo u > u.txt",
    ),
    "detached": (
        False,
        f"echo k-$RANDOM > keep.txt; {COMMIT} keep; git checkout -q --detach HEAD~1; echo d > d.txt",
    ),
    "reset-hard": (
        False,
        f"echo r1-$RANDOM > r1.txt; {COMMIT} r1; git reset -q --hard HEAD~1; echo a > after.txt",
    ),
    "reset-past-save": (False, "git reset -q --hard HEAD~1; echo a-$RANDOM > a.txt"),
    "staged-then-changed": (
        False,
        "echo s1-$RANDOM > s.txt; git add s.txt; echo s2 >> s.txt; chmod +x app/calc.py",
    ),
    "binary": (False, "head -c 300000 /dev/urandom > blob.bin; printf '\\000\\001\\377' > tiny.bin"),
    "symlinks": (
        False,
        "ln -s README.md to-readme; ln -s /etc/hostname absolute; ln -s missing dangling; "
        "mkdir d; ln -s ../app d/to-app; echo $RANDOM > d/f",
    ),
    "odd-names": (False, 'for n in "${ODD_NAMES[@]}"; do echo "$n $RANDOM" > "$n"; done'),
    "merge-conflict": (
        False,
        f"git checkout -q -b side-$RANDOM; echo side > README.md; {COMMIT} side; git checkout -q -; "
        f"echo here-$RANDOM > README.md; {COMMIT} here; git merge -q side-* >/dev/null 2>&1 || true",
    ),
    # Issue #16 items 4-6: a run changes what git reads for every worktree, then changes files.
    "excludes-file": (
        False,
        f"printf '*\\n' > {COMMON}/star; git config core.excludesFile {COMMON}/star; {EDITS}",
    ),
    "clean-filter": (False, f"git config filter.zap.clean 'echo Z'; echo '* filter=zap' >> {ATTRS}; {EDITS}"),
    "ignore-stat": (False, f"git config core.ignoreStat true; {EDITS}"),
    "include": (
        False,
        f"printf '[core]\\nignoreStat=1\\n' > {COMMON}/i; git config include.path {COMMON}/i; {EDITS}",
    ),
    "index-flags": (
        False,
        f"{FLAG} --assume-unchanged README.md; {FLAG} --skip-worktree app/calc.py; {EDITS}",
    ),
    # Item 9: blobs only this worktree's index names are pruned (as a run's `git gc --prune=now` does
    # once a `git worktree prune` made gc blind to this index); the files are still there. Only a
    # blob of the file's own bytes (they hold $RANDOM): one staged through another run's clean
    # filter is that filter's output, which other runs' commits name too, and gc would keep it.
    "pruned-blobs": (
        False,
        f'{EDITS}; touch -d "-1 hour" README.md e.txt; git add README.md e.txt; for p in README.md e.txt; '
        f'do b=$(git rev-parse ":$p"); [ "$b" = "$(git hash-object --no-filters -- "$p")" ] || continue; '
        f'rm -f "{COMMON}/objects/${{b:0:2}}/${{b:2}}"; done',
    ),
    "deleted-git-file": (True, "echo g-$RANDOM > g.txt; rm .git"),
    "nested-repo": (
        True,
        "git init -q nested; echo n-$RANDOM > nested/f; git -C nested add f; "
        "git -C nested commit -q -m n; echo outside > outside.txt",
    ),
}


# Names git and the shell make hard: whitespace, a newline, non-ASCII, a leading dash, glob and
# escape characters, quotes, a dot file, a colon, a 200-character name.
ODD_NAMES = (
    "ODD_NAMES=('with space' $'tab\\there' $'new\\nline' 'ünï名' -dash '*star?' 'back\\\\slash' "
    "'\"quoted\"' .hidden 'co:lon' \"$(printf 'l%.0s' $(seq 1 200))\")"
)


def _command(cases: Path, captures: Path, then: str = "") -> str:
    """Run the case named by the run id (`<path>-<case>`), capture the worktree, then `then`."""
    capture = f"{sys.executable} {CAPTURE} {captures}/$PARALLEL_RUNS_SLUG.json"
    return f'bash {cases}/"${{PARALLEL_RUNS_RUN_ID#*-}}".sh; {capture}; {then}'


def _lost(
    repo: Path,
    runs_dir: Path,
    captures: Path,
    names: list[str],
    cases: Mapping[str, tuple[bool, str]] = CASES,
) -> list[str]:
    """What the captured worktrees held that is now neither on a reachable commit nor in place."""
    reachable, lost = reachable_objects(repo), []
    for name in names:
        slug, (kept, _) = name, cases[name.split("-", 1)[1]]
        held = json.loads((captures / f"{slug}.json").read_text())
        lost += [f"{slug}: blob {blob}" for blob in held["blobs"] if blob not in reachable]
        if kept:
            workspace = runs_dir / "workspaces" / slug
            there = {path: blob for path, blob in held["disk"].items() if (workspace / path).is_symlink()}
            there |= {p: b for p, b in held["disk"].items() if (workspace / p).is_file()}
            lost += [
                f"{slug}: {path} not kept" for path, blob in held["disk"].items() if there.get(path) != blob
            ]
    return lost


def _normal(repo: Path, cases: Path, captures: Path, ids: list[str], _: Path) -> list[str]:
    done = run_cli(
        "run", "--run-ids", ",".join(ids), "--workers", "4", "--command", _command(cases, captures), cwd=repo
    )
    said = done.stdout + done.stderr
    return [f"normal end: exit {done.returncode}: {said[-400:]}"] if done.returncode not in (0, 1) else []


def _killed(repo: Path, cases: Path, captures: Path, ids: list[str], tmp: Path) -> list[str]:
    ready = tmp / "ready"
    ready.mkdir(exist_ok=True)
    command = _command(cases, captures, then=f"touch {ready}/$PARALLEL_RUNS_SLUG; sleep 600")
    victim = Victim(
        "run", "--run-ids", ",".join(ids), "--workers", str(len(ids)), "--command", command, cwd=repo, tmp=tmp
    )
    locks = repo / ".autonomous_runs" / ".locks"

    def all_ready() -> bool:
        return all((ready / i).exists() and "child_pgid" in (locks / f"{i}.lock").read_text() for i in ids)

    if not wait_until(all_ready, timeout=120, step=0.05):
        return ["kill: the runs never all reached their sleep"]
    victim.signal(signal.SIGKILL)
    victim.finish()
    return _unexpected_failures("recover", run_cli("recover", cwd=repo))


def _cleaned(repo: Path, cases: Path, captures: Path, ids: list[str], _: Path) -> list[str]:
    saving = "echo saved-$RANDOM > saved.txt"  # the run's own change: its save is a commit of its own
    done = run_cli(
        "run", "--run-ids", ",".join(ids), "--workers", "4", "--keep-worktrees", "--command", saving, cwd=repo
    )
    if done.returncode != 0:
        return [f"cleanup's run: exit {done.returncode}: {done.stdout + done.stderr}"]
    for slug in ids:  # by hand, after the run: what a user or a later tool does in a kept worktree
        workspace = repo / ".autonomous_runs" / "workspaces" / slug
        saved = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())["head_sha"]
        subprocess.run(["bash", str(cases / f"{slug.split('-', 1)[1]}.sh")], cwd=workspace, check=False)
        capture = [
            sys.executable,
            str(CAPTURE),
            str(captures / f"{slug}.json"),
            "--also",
            *filter(None, [saved]),
        ]
        subprocess.run(capture, cwd=workspace, env={**os.environ, "PARALLEL_RUNS_SLUG": slug}, check=True)
    return _unexpected_failures("cleanup", run_cli("cleanup", cwd=repo))


def _unexpected_failures(command: str, done: subprocess.CompletedProcess[str]) -> list[str]:
    """`recover` and `cleanup` exit 1 only for worktrees git cannot save (they stay, by design)."""
    failed = [line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("failed ")]
    unexpected = [slug for slug in failed if not _is_kept(slug)]
    if done.returncode == (1 if failed else 0) and not unexpected:
        return []
    return [f"{command}: exit {done.returncode}: {(done.stdout + done.stderr)[-600:]}"]


def _is_kept(slug: str) -> bool:
    """Whether the case of this run is one whose worktree stays in place (git cannot save it)."""
    return CASES[slug.split("-", 1)[1]][0]


PATHS: dict[str, Callable[[Path, Path, Path, list[str], Path], list[str]]] = {
    "n": _normal,
    "k": _killed,
    "c": _cleaned,
}


@pytest.mark.scenario("R6 dirty worktrees")
@pytest.mark.timeout(1800)
def test_r6_dirty_worktrees_lose_nothing_through_end_recover_and_cleanup(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    rounds, cases, runs_dir = count(full=5, quick=1), tmp_path / "cases", repo / ".autonomous_runs"
    cases.mkdir()
    for name, (_, script) in CASES.items():
        (cases / f"{name}.sh").write_text(f"{ODD_NAMES}\n{script}\n")
    (repo / "HISTORY.md").write_text("a second commit: HEAD~1 of a fresh worktree is a commit too\n")
    git(repo, "add", "HISTORY.md")
    git(repo, "commit", "-q", "-m", "second")
    lost, problems, kept, trials = list[str](), list[str](), set[str](), 0
    for round_ in range(rounds):
        for path, carry_out in PATHS.items():
            captures = tmp_path / f"captures-{path}{round_}"
            captures.mkdir()
            ids = [f"{path}{round_}-{name}" for name in CASES if path != "c" or name not in SHARED_STATE]
            trials += len(ids)
            problems += carry_out(repo, cases, captures, ids, tmp_path)
            try:
                lost += _lost(repo, runs_dir, captures, ids)
            except subprocess.CalledProcessError as broken:  # a ref names an object that is gone
                problems.append(f"objects missing from the refs: {broken.stderr.strip()[-300:]}")
            kept |= {str(runs_dir / "workspaces" / slug) for slug in ids if _is_kept(slug)}
            problems += [
                f"orphaned: {tree}" for tree in orphaned_worktrees(repo, runs_dir) if tree not in kept
            ]
            problems += fsck_problems(repo)
        figures.trials, figures.lost_changes = trials, len(lost)
        figures.faults = (
            f"{len(CASES)} kinds of dirty worktree x (normal end, kill + recover, cleanup), "
            f"{len(SHARED_STATE)} of them changing the shared git config (not by hand: no cleanup)"
        )
        figures.notes = f"{len(problems)} other problems (exit codes, orphaned worktrees, fsck)"
        if lost or problems:
            break
    assert not lost, lost[:10]
    assert not problems, problems[:10]
