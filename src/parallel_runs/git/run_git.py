"""The one way git is run: `git -C <dir> -c ...` through GitPython, retrying lock contention.

Commands ignore the user's hooks, signing, auto-gc and hidden untracked files; lock contention
between concurrent runs is retried, anything else is a GitError. Names here are private to
`parallel_runs.git`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from git.cmd import Git
from git.exc import CommandError

from parallel_runs.errors import GitError, NoSpaceError, is_disk_full

logger = logging.getLogger(__name__)

_GIT = Git()
_CONFIG = (
    *("core.hooksPath=/dev/null", "commit.gpgSign=false", "maintenance.auto=false", "gc.auto=0"),
    "branch.autoSetupMerge=false",  # no config.lock contention, no upstream for run branches
    "status.showUntrackedFiles=normal",  # also for the status `git worktree remove` runs
)
_SETTINGS = tuple(arg for setting in _CONFIG for arg in ("-c", setting))
# Lock files held by a concurrent git, and git listing worktrees while another one is being
# added or removed (a half-written or vanishing .git/worktrees/<id>). `worktree remove` of the
# last worktree deletes .git/worktrees itself, between another `worktree add`'s two mkdirs.
_TRANSIENT = re.compile(
    r"\.lock'?: File exists|Unable to create '[^']*\.lock'|could not lock config file|"
    r"Another git process seems to be running|failed to read \S*worktrees/|"
    r"Invalid path '[^']*/worktrees/[^']*': No such file|"
    r"could not create (?:leading directories|directory) of '[^']*worktrees/[^']*': No such file"
)
_RETRIES = 10


@dataclass(frozen=True, slots=True)
class _Result:
    status: int
    out: str
    err: str


def _failure(args: tuple[str, ...], cwd: Path, err: str, status: int) -> GitError | NoSpaceError:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("hint:")]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
    reason = reasons[-1] if reasons else f"exit status {status}"
    if is_disk_full(GitError(err)):
        return NoSpaceError(f"no space left on device: git {_name(args)} failed in {cwd}: {reason}")
    return GitError(f"git {_name(args)} failed in {cwd}: {reason}")


def _name(args: tuple[str, ...]) -> str:
    """The subcommand in `args`, skipping global options and `-c` values."""
    return next((arg for arg in args if not arg.startswith("-") and "=" not in arg), "?")


def _git(
    cwd: Path,
    *args: str,
    check: bool = True,
    stdout: BinaryIO | None = None,
    env: dict[str, str] | None = None,
    as_user: bool = False,
) -> _Result:
    """Run one git command, retrying only transient lock-file contention.

    `as_user`: without our settings, for commits the user asked for on their own branch (their hooks
    and signing apply, as with their own `git merge`).
    """
    argv = [Git.GIT_PYTHON_GIT_EXECUTABLE, "-C", str(cwd), *(() if as_user else _SETTINGS), *args]
    for attempt in range(_RETRIES):
        try:
            status, out, err = _GIT.execute(
                argv, with_extended_output=True, with_exceptions=False, output_stream=stdout, env=env
            )
        except CommandError as exc:  # git missing or not executable
            raise GitError(f"cannot run git: {exc}") from exc
        except OSError as exc:  # writing git's output to `stdout`
            if is_disk_full(exc):
                raise NoSpaceError(f"no space left on device for git {_name(args)}'s output") from exc
            raise
        transient = None if status == 0 or stdout is not None else _TRANSIENT.search(err)
        if transient is None:
            break
        delay = min(0.4, 0.01 * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter only
        logger.debug("git %s in %s: %r; retrying in %.3fs", _name(args), cwd, transient.group(0), delay)
        time.sleep(delay)
    if status and check:
        raise _failure(args, cwd, err, status)
    return _Result(status, out, err)
