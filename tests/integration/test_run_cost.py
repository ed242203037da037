"""Issue #22 item 1: a no-op run starts only the git processes the floor does (a worktree added,
its changes staged and written as a tree, the worktree removed); every shortcut that spares git
steps aside when the run changed what it reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from parallel_runs.batch import BatchControl
from parallel_runs.batch import run as run_batch
from parallel_runs.config import build_batch_to_queue
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.git import RunWorktree, common_git_dir, last_attempt_ref_number, run_git
from parallel_runs.git.settings import SaveSettings, effective_config
from tests.helpers import git


class _Counting:
    """The real git, each command counted by its subcommand."""

    def __init__(self, real: Any) -> None:
        self.real, self.started = real, Counter[str]()

    def execute(self, argv: list[str], **kwargs: Any) -> Any:
        self.started[run_git._name(tuple(argv[3:]))] += 1
        return self.real.execute(argv, **kwargs)


@contextmanager
def counted_git() -> Iterator[Counter[str]]:
    real = run_git._GIT
    counting = _Counting(real)
    run_git._GIT = counting  # type: ignore[assignment]
    try:
        yield counting.started
    finally:
        run_git._GIT = real


def _no_op_batch(repo: Path, runs_dir: Path, batch_id: str, runs: int) -> Counter[str]:
    batch = build_batch_to_queue(
        flags={
            "run_ids": [f"{batch_id}-{{1..{runs}}}"],
            "command": "true",
            "runs_dir": str(runs_dir),
            "batch_id": batch_id,
        },
        environ=dict(os.environ),
        cwd=repo,
    )
    with counted_git() as started:
        result = run_batch(batch.request, batch.machine, BatchControl(grace=batch.request.grace))
    assert result.exit_code == 0
    return started


def test_a_no_op_run_starts_four_git_processes(repo: Path, runs_dir: Path) -> None:
    """What the batch starts once cancels out between a batch of 2 runs and one of 5."""
    two = _no_op_batch(repo, runs_dir / "two", "two", 2)
    five = _no_op_batch(repo, runs_dir / "five", "five", 5)
    per_three_runs = five - two
    assert per_three_runs == Counter({"worktree": 6, "add": 3, "write-tree": 3}), (two, five)


def _settings_now(repo: Path) -> dict[str, str]:
    cached = effective_config(repo, common=common_git_dir(repo))
    assert cached == effective_config(repo), "the cache answered what git no longer says"
    return cached


CHANGES = {
    "a global config that did not exist": lambda repo, home: (home / "global").write_text(
        '[filter "z"]\n\tclean = echo Z\n'
    ),
    "the shared config": lambda repo, home: git(repo, "config", "core.autocrlf", "true"),
    "a file the config includes": lambda repo, home: (home / "included").write_text("[core]\n\teol = crlf\n"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_settings_git_reads_are_asked_again_when_a_file_changes(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "global"))
    (tmp_path / "included").write_text("")
    git(repo, "config", "include.path", str(tmp_path / "included"))
    if change != "a file the config includes":
        git(repo, "config", "--unset", "include.path")
    before = _settings_now(repo)
    with counted_git() as started:
        assert _settings_now(repo) == before
    if change != "a file the config includes":  # a config with an include is asked every time
        assert started["config"] == 1  # the uncached call of _settings_now only
    CHANGES[change](repo, tmp_path)
    assert _settings_now(repo) != before


def test_attempt_refs_packed_away_are_still_counted(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    assert last_attempt_ref_number(repo, "run-1") == 0
    git(repo, "update-ref", "refs/parallel-runs/attempts/run-1/3", base)
    git(repo, "pack-refs", "--all")
    assert not (common_git_dir(repo) / "refs" / "parallel-runs" / "attempts" / "run-1").exists()
    assert last_attempt_ref_number(repo, "run-1") == 3
    assert last_attempt_ref_number(repo, "run-10") == 0


@pytest.fixture
def ws(repo: Path, tmp_path: Path) -> RunWorktree:
    paths = RunPaths(runs_dir=tmp_path / "runs", slug="run-1")
    return RunWorktree(repo=repo, paths=paths, settings=SaveSettings.snapshot(repo))


def _save(ws: RunWorktree, base: str) -> str | None:
    return ws.save_changes(run_id="run-1", attempt=1, outcome=Outcome.SUCCEEDED, base_sha=base)


def _flagged_in_place(workspace: Path, index: Path) -> None:
    """README.md assume-unchanged in `index`, written into the same file at the same size and mtime:
    all a run can forge (git ignores an extension named in capitals that it does not know)."""
    written, scratch = index.stat(), index.with_name("flagged")
    shutil.copyfile(index, scratch)
    subprocess.run(
        ["git", "update-index", "--assume-unchanged", "README.md"],
        cwd=workspace,
        env={**os.environ, "GIT_INDEX_FILE": str(scratch)},
        check=True,
    )
    body = scratch.read_bytes()[:-20]
    scratch.unlink()
    padding = written.st_size - 20 - len(body) - 8
    assert padding >= 0
    body += b"ZPAD" + padding.to_bytes(4, "big") + b"\0" * padding
    with index.open("r+b") as file:
        file.write(body + hashlib.sha1(body).digest())  # noqa: S324 - git's own checksum
    os.utime(index, ns=(written.st_atime_ns, written.st_mtime_ns))
    assert (index.stat().st_size, index.stat().st_ino) == (written.st_size, written.st_ino)


def test_an_index_flag_written_behind_a_restored_size_and_mtime_hides_no_edit(
    repo: Path, ws: RunWorktree
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    workspace = ws.create(base_sha=base, attempt=1)
    index = Path(git(workspace, "rev-parse", "--absolute-git-dir")) / "index"
    _flagged_in_place(workspace, index)
    assert git(workspace, "ls-files", "-v", "README.md") == "h README.md"
    (workspace / "README.md").write_text("# demo\nedited\n")
    head = _save(ws, base)
    assert head is not None
    assert head != base
    assert git(repo, "show", f"{head}:README.md") == "# demo\nedited"


@pytest.mark.parametrize("commits", [True, False])
@pytest.mark.parametrize("move", ["stay", "detach", "switch"])
def test_a_head_the_run_moved_is_saved_from_where_it_is(
    repo: Path, ws: RunWorktree, move: str, commits: bool
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    workspace = ws.create(base_sha=base, attempt=1)
    if commits:
        (workspace / "made.txt").write_text("made\n")
        git(workspace, "add", "made.txt")
        git(workspace, "commit", "--quiet", "-m", "the run's own")
    own = git(workspace, "rev-parse", "HEAD")
    if move == "detach":
        git(workspace, "checkout", "--quiet", "--detach", "HEAD")
    elif move == "switch":
        git(workspace, "checkout", "--quiet", "-b", "elsewhere")
    (workspace / "later.txt").write_text("later\n")
    head = _save(ws, base)
    assert head is not None
    assert git(repo, "rev-parse", f"{head}^") == own
    assert git(repo, "show", "parallel-runs/run-1:later.txt") == "later"
