"""The in-process twin of run_cli (tests/helpers.cli) answers as the real process does, and leaves
the test process as it found it: cwd, environment, signal handlers, child-subreaper flag."""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

import pytest

from tests.helpers import cli, git, run_cli

SAME_ANSWERS = [
    ("--version",),
    ("worktrees", "list", "--format", "json"),
    ("worktrees", "list", "--format", "xml"),
    ("run", "--batch-id", "b1", "--run-ids", "a,b", "--dry-run", "--command", "true"),
    ("report", "--format", "bogus"),
    ("nosuchcommand",),
]


@pytest.mark.parametrize("args", SAME_ANSWERS, ids=" ".join)
def test_the_twin_answers_as_the_process_does(repo: Path, args: tuple[str, ...]) -> None:
    real, twin = run_cli(*args, cwd=repo), cli(*args, cwd=repo)
    assert (twin.returncode, twin.stdout, twin.stderr) == (real.returncode, real.stdout, real.stderr)


def _subreaper() -> int:
    flag = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(37, ctypes.byref(flag), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return flag.value


def test_a_run_in_process_leaves_the_test_process_as_it_was(repo: Path, tmp_path: Path) -> None:
    # `run` makes its process a child subreaper; an engine test on this worker may have done so too.
    ctypes.CDLL(None).prctl(36, 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    before_env, before_cwd = dict(os.environ), Path.cwd()
    before_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    done = cli("run", "--run-ids", "x", "--command", "echo $MARK > out.txt", cwd=repo, env={"MARK": "here"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "x" in done.stdout
    assert (dict(os.environ), Path.cwd()) == (before_env, before_cwd)
    assert {sig: signal.getsignal(sig) for sig in before_signals} == before_signals
    assert _subreaper() == 0


def test_warnings_the_cli_logs_reach_the_captured_stderr(repo: Path) -> None:
    git(repo, "config", "core.bare", "true")  # logged as a warning, and worked around
    real, twin = run_cli("worktrees", "list", cwd=repo), cli("worktrees", "list", cwd=repo)
    assert "core.bare = true" in real.stderr
    assert (twin.returncode, twin.stdout, twin.stderr) == (real.returncode, real.stdout, real.stderr)
