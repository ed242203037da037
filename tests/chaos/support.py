"""What the chaos scenarios share: victims in their own session, a git that says where the supervisor
is, and the checks (reachable blobs, fsck, orphaned worktrees, executions counted by a ledger)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from parallel_runs.store.urls import parse_postgres_url
from tests.helpers import git

WRITER = Path(__file__).with_name("writer.py")
_INSTALLING = threading.Lock()  # trials of one scenario may start victims from several threads

# The supervisor's git (GIT_PYTHON_GIT_EXECUTABLE): logs each subcommand to CHAOS_GIT_LOG, and
# sleeps before the one CHAOS_GIT_PAUSE names ("worktree add:3", "update-ref:3"), so that a kill
# or a stop lands exactly there. The run's own commands use the real git from PATH.
CHAOS_GIT = r"""#!/bin/bash
sub=""; next=""; skip=0
for arg in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ -n "$sub" ]; then next="$arg"; break; fi
  case "$arg" in -C|-c) skip=1 ;; -*) ;; *) sub="$arg" ;; esac
done
printf '%s %s\n' "$sub" "$next" >> "$CHAOS_GIT_LOG"
case "$CHAOS_GIT_PAUSE" in
  "$sub $next":*|"$sub":*) printf 'paused %s\n' "$sub" >> "$CHAOS_GIT_LOG"; sleep "${CHAOS_GIT_PAUSE##*:}" ;;
esac
exec git "$@"
"""


def writer_command(manifests: Path, **options: object) -> str:
    """The shell command of a run that writes listed files (see writer.py)."""
    flags = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in options.items())
    return f"{sys.executable} {WRITER} {manifests} {flags}"


class Victim:
    """A `parallel-runs` process in its own session: SIGKILL or SIGSTOP reaches it and its git, not
    its run's command (which has a process group of its own, as with any crash of a supervisor)."""

    def __init__(self, *args: str, cwd: Path, tmp: Path, pause: str | None = None, name: str = "v") -> None:
        self.git_log = tmp / f"{name}.gitlog"
        self.git_log.touch()
        wrapper = tmp / "chaos-git"
        with _INSTALLING:
            if not wrapper.exists():
                wrapper.write_text(CHAOS_GIT)
                wrapper.chmod(0o755)
        env = {**os.environ, "GIT_PYTHON_GIT_EXECUTABLE": str(wrapper), "CHAOS_GIT_LOG": str(self.git_log)}
        env["CHAOS_GIT_PAUSE"] = pause or ""
        self.out = (tmp / f"{name}.out").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "parallel_runs", *args],
            cwd=cwd,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.signalled_at: float | None = None

    def git_calls(self) -> list[str]:
        """The supervisor's git subcommands so far ("paused X" lines included)."""
        return self.git_log.read_text().splitlines()

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the supervisor's whole group (it and its git), noting when."""
        self.signalled_at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Wait for the process (killing it after `timeout`); its exit code and output."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            code = self.process.wait(timeout=30)
        self.out.seek(0)
        said = self.out.read()
        self.out.close()
        return code, said


def wait_until(predicate: Callable[[], bool], *, timeout: float, step: float = 0.005) -> bool:
    """Poll `predicate` until true (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def listed_blobs(manifests: Path) -> dict[str, str]:
    """Every file the runs listed in their manifests: blob id → path."""
    found: dict[str, str] = {}
    for manifest in manifests.glob("*.[0-9]*"):
        if manifest.suffix in (".started", ".done"):
            continue
        for line in manifest.read_text().splitlines():
            blob, _, path = line.partition(" ")
            found[blob] = f"{manifest.name}:{path}"
    return found


def reachable_objects(*repos: Path) -> set[str]:
    """Every object reachable from the refs (branches, attempt refs, HEAD) of these repositories."""
    objects: set[str] = set()
    for repo in repos:
        listing = git(repo, "rev-list", "--objects", "--no-object-names", "--all")  # names need not be UTF-8
        objects.update(listing.split())
    return objects


def lost_files(manifests: Path, *repos: Path) -> list[str]:
    """Listed files whose content is on no commit reachable from the refs."""
    reachable = reachable_objects(*repos)
    return sorted(path for blob, path in listed_blobs(manifests).items() if blob not in reachable)


def fsck_problems(repo: Path) -> list[str]:
    """What `git fsck` finds wrong (dangling objects are not wrong)."""
    done = subprocess.run(
        ["git", "fsck", "--no-progress", "--no-dangling"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines if done.returncode or lines else []


def orphaned_worktrees(repo: Path, runs_dir: Path) -> list[str]:
    """Worktrees git still lists besides the checkout, and directories left under the runs dir."""
    listed = [line for line in git(repo, "worktree", "list", "--porcelain").splitlines()]
    others = [line.split(" ", 1)[1] for line in listed if line.startswith("worktree ")][1:]
    home = runs_dir / "workspaces"
    left = [str(path) for path in home.iterdir()] if home.is_dir() else []
    return sorted(set(others) | set(left))


def executions(ledger: Path) -> Counter[str]:
    """How many times each run's command started, from the lines commands append to `ledger`."""
    if not ledger.exists():
        return Counter()
    return Counter(line.split()[0] for line in ledger.read_text().splitlines() if line.strip())


def query(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    """Rows of one SQL query on the shared store."""
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def clone(repo: Path, target: Path) -> Path:
    """Another machine's checkout of `repo`."""
    git(repo.parent, "clone", "--quiet", str(repo), str(target))
    return target
