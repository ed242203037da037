"""parallel_runs.git against real repositories: worktrees, run branches, saving, removal, races."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol

import pytest

from parallel_runs.core.layout import RunPaths, attempt_ref
from parallel_runs.core.model import Outcome
from parallel_runs.errors import GitError
from parallel_runs.git import (
    IgnoreRules,
    RunWorktree,
    common_git_dir,
    ensure_excluded,
    last_attempt_ref_number,
    list_managed_worktrees,
    repo_root,
    resolve_commit,
)
from tests.helpers import git

BINARY = bytes(range(256)) * 4


class BarrierLike(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


def manager(repo: Path, runs_dir: Path, slug: str = "run-1") -> RunWorktree:
    return RunWorktree(repo=repo, paths=RunPaths(runs_dir=runs_dir, slug=slug))


@pytest.fixture
def base(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def ws(repo: Path, runs_dir: Path) -> RunWorktree:
    return manager(repo, runs_dir)


def save(ws: RunWorktree, base: str, attempt: int = 1, outcome: Outcome = Outcome.SUCCEEDED) -> str | None:
    return ws.save_changes(run_id="run 1", attempt=attempt, outcome=outcome, base_sha=base)


def branch_files(repo: Path, ref: str = "parallel-runs/run-1") -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "-z", ref).split("\0")) - {""}


# --- create -------------------------------------------------------------------------------------


def test_what_is_written_after_a_save_is_dropped_and_the_save_takes_the_final_outcome(
    repo: Path, ws: RunWorktree, base: str
) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "app" / "calc.py").write_text("def add(a, b):\n    return a - b\n")  # the run's change
    saved = save(ws, base, outcome=Outcome.SUCCEEDED)  # when its command ended, before its tests
    assert saved is not None
    (path / "report.xml").write_text("<testsuite/>")  # what the tests wrote
    (path / "app" / "calc.py").write_text("rewritten by a test\n")
    (path / "ignored").mkdir()
    (path / "ignored" / "cache.txt").write_text("kept: ignored files are never saved nor cleaned")
    ws.restore(saved)
    assert not (path / "report.xml").exists()
    assert (path / "app" / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert (path / "ignored" / "cache.txt").exists()

    head = ws.save_changes(run_id="run 1", attempt=1, outcome=Outcome.REGRESSED, base_sha=base, relabel=True)
    assert head != saved
    assert git(repo, "rev-parse", "parallel-runs/run-1") == head
    assert git(repo, "rev-parse", f"{head}^") == base  # one commit: the pre-test one, relabelled
    assert git(repo, "rev-parse", f"{head}^{{tree}}") == git(repo, "rev-parse", f"{saved}^{{tree}}")
    assert "Parallel-Runs-Outcome: regressed" in git(repo, "log", "-1", "--format=%B", head)
    assert branch_files(repo) == {".gitignore", "README.md", "app/__init__.py", "app/calc.py"}


def test_relabelling_never_rewrites_a_commit_the_run_made_itself(
    repo: Path, ws: RunWorktree, base: str
) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "new.txt").write_text("x")
    git(path, "add", "new.txt")
    git(path, "commit", "-qm", "the run's own commit")
    own = git(path, "rev-parse", "HEAD")
    head = ws.save_changes(run_id="run 1", attempt=1, outcome=Outcome.REGRESSED, base_sha=base, relabel=True)
    assert head == own
    assert git(repo, "log", "-1", "--format=%s", "parallel-runs/run-1") == "the run's own commit"


def test_create_checks_out_base_on_the_run_branch(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)

    assert path == ws.paths.workspace
    assert path.is_absolute()
    assert (path / "app" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/parallel-runs/run-1"
    assert git(repo, "rev-parse", "parallel-runs/run-1") == base
    assert git(path, "status", "--porcelain") == ""
    assert ws.exists()


def test_create_refuses_an_existing_worktree_and_leaves_it_alone(ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "work.txt").write_text("precious")

    with pytest.raises(GitError, match="already exists"):
        ws.create(base_sha=base, attempt=2)

    assert (path / "work.txt").read_text() == "precious"
    assert ws.is_dirty()


def test_second_attempt_keeps_the_first_tip_and_resets_the_branch(
    repo: Path, ws: RunWorktree, base: str
) -> None:
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "first.txt").write_text("one\n")
    first_tip = save(ws, base, attempt=1, outcome=Outcome.FAILED)
    ws.remove()

    ws.create(base_sha=base, attempt=2)

    assert git(repo, "rev-parse", attempt_ref("run-1", 1)) == first_tip
    assert git(repo, "rev-parse", "parallel-runs/run-1") == base
    assert not (ws.workspace / "first.txt").exists()
    assert last_attempt_ref_number(repo, "run-1") == 1


def test_a_taken_attempt_ref_is_never_overwritten(repo: Path, ws: RunWorktree, base: str) -> None:
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "a.txt").write_text("a\n")
    first = save(ws, base, attempt=1)
    ws.remove()
    ws.create(base_sha=base, attempt=2)
    (ws.workspace / "b.txt").write_text("b\n")
    second = save(ws, base, attempt=2)
    ws.remove()

    ws.create(base_sha=base, attempt=2)  # attempt numbers restarted (e.g. a new store)

    assert git(repo, "rev-parse", attempt_ref("run-1", 1)) == first
    assert git(repo, "rev-parse", attempt_ref("run-1", 2)) == second
    assert last_attempt_ref_number(repo, "run-1") == 2


def test_create_after_the_directory_vanished(repo: Path, ws: RunWorktree, base: str) -> None:
    import shutil

    ws.create(base_sha=base, attempt=1)
    shutil.rmtree(ws.workspace)
    assert ws.exists()  # still registered

    assert save(ws, base) is None
    ws.create(base_sha=base, attempt=2)

    assert git(ws.workspace, "rev-parse", "HEAD") == base


# --- save ---------------------------------------------------------------------------------------


def test_save_commits_modified_new_and_binary_files_but_not_ignored_ones(
    repo: Path, ws: RunWorktree, base: str, tmp_path: Path
) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "app" / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    (path / "app" / "new.py").write_text("X = 1\n")
    (path / "blob.bin").write_bytes(BINARY)
    (path / "README.md").unlink()
    (path / "ignored").mkdir()
    (path / "ignored" / "cache.txt").write_text("junk")
    (path / "app" / "calc.pyc").write_bytes(b"\0")

    head = save(ws, base, attempt=3, outcome=Outcome.TIMED_OUT)

    assert head == git(repo, "rev-parse", "parallel-runs/run-1") != base
    assert git(repo, "rev-parse", f"{head}^") == base
    assert branch_files(repo) == {".gitignore", "app/__init__.py", "app/calc.py", "app/new.py", "blob.bin"}
    message = git(repo, "log", "-1", "--format=%B", head)
    assert message.startswith("parallel-runs: run 1 attempt 3 timed_out")
    assert "Parallel-Runs-Run-Id: run 1" in message
    assert "Parallel-Runs-Attempt: 3" in message
    assert "Parallel-Runs-Outcome: timed_out" in message
    assert git(path, "status", "--porcelain") == ""

    patch = ws.paths.changes_patch.read_bytes()
    assert b"GIT binary patch" in patch
    fresh = tmp_path / "fresh"
    git(repo, "worktree", "add", "--detach", str(fresh), base)
    git(fresh, "apply", "--check", str(ws.paths.changes_patch))
    git(fresh, "apply", str(ws.paths.changes_patch))
    assert (fresh / "blob.bin").read_bytes() == BINARY


def test_save_without_changes_makes_no_commit(repo: Path, ws: RunWorktree, base: str) -> None:
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "build.pyc").write_bytes(b"ignored")

    assert save(ws, base) == base
    assert git(repo, "rev-parse", "parallel-runs/run-1") == base
    assert ws.paths.changes_patch.read_bytes() == b""


def test_save_works_without_any_git_identity(
    repo: Path, ws: RunWorktree, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    git(repo, "config", "user.useConfigOnly", "true")  # no guessing from the host name either
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "x.txt").write_text("x\n")

    head = save(ws, base)

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", str(head)) == (
        "parallel-runs <parallel-runs@localhost>|parallel-runs <parallel-runs@localhost>"
    )


def test_save_keeps_a_configured_identity(repo: Path, ws: RunWorktree, base: str) -> None:
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "x.txt").write_text("x\n")

    head = save(ws, base)

    assert git(repo, "log", "-1", "--format=%an", str(head)) == "Test Author"


def test_save_ignores_hooks_and_signing(repo: Path, ws: RunWorktree, base: str) -> None:
    hooks = common_git_dir(repo) / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-checkout", "reference-transaction"):
        (hooks / name).write_text("#!/bin/sh\nexit 1\n")
        (hooks / name).chmod(0o755)
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "gpg.program", "false")
    ws.create(base_sha=base, attempt=1)
    (ws.workspace / "x.txt").write_text("x\n")

    head = save(ws, base)

    assert branch_files(repo) >= {"x.txt"}
    assert head == git(repo, "rev-parse", "parallel-runs/run-1")


def test_save_keeps_commits_the_command_made(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "committed.txt").write_text("c\n")
    git(path, "add", "committed.txt")
    git(path, "commit", "-q", "-m", "by the command")
    (path / "later.txt").write_text("l\n")

    head = save(ws, base)

    assert git(repo, "rev-list", "--count", f"{base}..{head}") == "2"
    assert {"committed.txt", "later.txt"} <= branch_files(repo)


def test_save_after_the_command_only_committed(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "committed.txt").write_text("c\n")
    git(path, "add", "committed.txt")
    git(path, "commit", "-q", "-m", "by the command")

    assert save(ws, base) == git(path, "rev-parse", "HEAD") == git(repo, "rev-parse", "parallel-runs/run-1")
    assert b"committed.txt" in ws.paths.changes_patch.read_bytes()


def test_save_on_a_detached_head_moves_the_run_branch_there(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    git(path, "checkout", "-q", "--detach")
    (path / "detached.txt").write_text("d\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "detached work")
    (path / "more.txt").write_text("m\n")

    head = save(ws, base)

    assert git(repo, "rev-parse", "parallel-runs/run-1") == head
    assert {"detached.txt", "more.txt"} <= branch_files(repo)
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/parallel-runs/run-1"
    assert git(path, "status", "--porcelain") == ""


def test_save_after_switching_branch_keeps_the_run_branch_commits(
    repo: Path, ws: RunWorktree, base: str
) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "on-run-branch.txt").write_text("r\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "on the run branch")
    own_tip = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "-q", "-b", "elsewhere", base)
    (path / "elsewhere.txt").write_text("e\n")

    head = save(ws, base)

    assert git(repo, "rev-parse", "parallel-runs/run-1") == head
    assert "elsewhere.txt" in branch_files(repo)
    assert git(repo, "rev-parse", attempt_ref("run-1", 1)) == own_tip  # nothing lost


def diverged(repo: Path, ws: RunWorktree, base: str, *, branch: str) -> Path:
    """Branch `branch` of `repo` and the run's new worktree each commit their own app/calc.py."""
    git(repo, "checkout", "-q", "-b", branch)
    (repo / "app" / "calc.py").write_text(f"{branch}\n")
    git(repo, "commit", "-q", "-am", branch)
    git(repo, "checkout", "-q", "main")
    path = ws.create(base_sha=base, attempt=1)
    (path / "app" / "calc.py").write_text("run side\n")
    git(path, "commit", "-q", "-am", "run side")
    return path


def test_save_with_a_merge_in_progress(repo: Path, ws: RunWorktree, base: str) -> None:
    path = diverged(repo, ws, base, branch="other")
    merge = subprocess.run(["git", "merge", "other"], cwd=path, capture_output=True, check=False)
    assert merge.returncode != 0  # conflict: merge left in progress
    (path / "untracked.txt").write_text("u\n")

    head = save(ws, base)

    assert "<<<<<<<" in git(repo, "show", f"{head}:app/calc.py")
    assert "untracked.txt" in branch_files(repo)
    ws.remove()
    assert not path.exists()


def test_save_with_a_rebase_in_progress(repo: Path, ws: RunWorktree, base: str) -> None:
    path = diverged(repo, ws, base, branch="upstream")
    own_tip = git(path, "rev-parse", "HEAD")
    rebase = subprocess.run(["git", "rebase", "upstream"], cwd=path, capture_output=True, check=False)
    assert rebase.returncode != 0

    head = save(ws, base)

    assert git(repo, "rev-parse", "parallel-runs/run-1") == head
    assert "<<<<<<<" in git(repo, "show", f"{head}:app/calc.py")
    assert git(repo, "merge-base", "--is-ancestor", own_tip, f"{attempt_ref('run-1', 1)}") == ""


def test_save_handles_spaces_and_unicode_names(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    names = ["with space.txt", "ünïcødé/ファイル.txt", "tab\tname.txt", "quote'\"name.txt"]
    for name in names:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(name)

    save(ws, base)

    assert set(names) <= branch_files(repo)
    ws.remove()


def test_nested_repositories_are_left_out_but_never_lost(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "keep.txt").write_text("k\n")
    for name, commit in (("vendor/empty", False), ("vendor/cloned", True), ("other/empty too", False)):
        nested = path / name
        nested.mkdir(parents=True)
        git(nested, "init", "-q")
        (nested / "inside.txt").write_text(name)
        if commit:
            git(nested, "add", "-A")
            git(nested, "commit", "-q", "-m", "nested")

    save(ws, base)

    files = branch_files(repo)
    assert "keep.txt" in files
    assert not any(name.startswith(("vendor/", "other/")) for name in files)
    for just_saved in (False, True):  # even right after a save, unsaved nested repos block removal
        with pytest.raises(GitError, match="unsaved changes"):
            ws.remove(just_saved=just_saved)
    assert (path / "vendor" / "empty" / "inside.txt").exists()
    assert (path / "vendor" / "cloned" / "inside.txt").exists()
    assert (path / "other" / "empty too" / "inside.txt").exists()


def test_save_retries_a_transient_index_lock(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "x.txt").write_text("x\n")
    lock = Path(git(path, "rev-parse", "--absolute-git-dir")) / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.15, lock.unlink)
    timer.start()

    head = save(ws, base)

    timer.join()
    assert "x.txt" in branch_files(repo, str(head))


def test_create_survives_another_process_removing_the_last_worktree(
    repo: Path, runs_dir: Path, base: str
) -> None:
    # `git worktree remove` of a repository's last worktree deletes .git/worktrees; another
    # batch's `worktree add` in between its two mkdirs failed. Here a process does that rmdir
    # every millisecond (about 4 in 10 bare `worktree add`s fail against it).
    worktrees = common_git_dir(repo) / "worktrees"
    argv = [sys.executable, "-c", _REMOVE_EMPTY_DIR_FOREVER, str(worktrees)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as remover:
        try:
            assert remover.stdout is not None
            assert remover.stdout.readline() == "ready\n"
            for n in range(12):
                ws = manager(repo, runs_dir, slug=f"race-{n}")
                ws.create(base_sha=base, attempt=1)
                ws.remove(just_saved=True)
            assert remover.poll() is None, "the remover died: nothing raced the creations"
        finally:
            remover.kill()


def test_exists_survives_another_process_removing_the_last_worktree(
    repo: Path, runs_dir: Path, base: str
) -> None:
    # Asked of a run not started yet while .git/worktrees came and went: FileNotFoundError from the
    # directory listing failed the run as an internal error.
    worktrees, ws = common_git_dir(repo) / "worktrees", manager(repo, runs_dir, "not-yet")
    argv = [sys.executable, "-c", _ADD_AND_REMOVE_DIR_FOREVER, str(worktrees)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as churn:
        try:
            assert churn.stdout is not None
            assert churn.stdout.readline() == "ready\n"
            assert not any(ws.exists() for _ in range(3000))
            assert churn.poll() is None, "the churn died: nothing raced the listings"
        finally:
            churn.kill()


_ADD_AND_REMOVE_DIR_FOREVER = """
import os, sys
print("ready", flush=True)
while True:
    try:
        os.makedirs(sys.argv[1] + "/other", exist_ok=True)
        os.rmdir(sys.argv[1] + "/other")
        os.rmdir(sys.argv[1])
    except OSError:
        pass
"""


_REMOVE_EMPTY_DIR_FOREVER = """
import os, sys, time
print("ready", flush=True)
while True:
    try:
        os.rmdir(sys.argv[1])
    except OSError:
        pass
    time.sleep(0.001)
"""

# --- remove -------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["modified", "untracked"])
def test_remove_refuses_unsaved_changes(ws: RunWorktree, base: str, change: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    target = path / ("README.md" if change == "modified" else "new.txt")
    target.write_text("unsaved")

    with pytest.raises(GitError, match="unsaved changes"):
        ws.remove()

    assert target.read_text() == "unsaved"


def test_remove_refuses_untracked_files_even_when_status_hides_them(
    repo: Path, ws: RunWorktree, base: str
) -> None:
    git(repo, "config", "status.showUntrackedFiles", "no")
    path = ws.create(base_sha=base, attempt=1)
    (path / "new.txt").write_text("unsaved")

    assert ws.is_dirty()
    with pytest.raises(GitError, match="unsaved changes"):
        ws.remove()


def test_remove_after_save_leaves_nothing(repo: Path, ws: RunWorktree, base: str) -> None:
    path = ws.create(base_sha=base, attempt=1)
    (path / "x.txt").write_text("x\n")
    (path / "ignored").mkdir()
    (path / "ignored" / "big.log").write_text("discarded")
    head = save(ws, base)

    ws.remove()
    ws.remove()  # idempotent

    assert not path.exists()
    assert str(path) not in git(repo, "worktree", "list", "--porcelain")
    assert not ws.exists()
    assert git(repo, "rev-parse", "parallel-runs/run-1") == head  # the branch keeps the work
    assert ws.paths.changes_patch.exists()


def test_remove_prunes_a_vanished_worktree(repo: Path, ws: RunWorktree, base: str) -> None:
    import shutil

    ws.create(base_sha=base, attempt=1)
    shutil.rmtree(ws.workspace)

    ws.remove()

    assert not ws.exists()
    assert str(ws.workspace) not in git(repo, "worktree", "list", "--porcelain")


def test_remove_refuses_a_directory_that_is_not_a_worktree(ws: RunWorktree) -> None:
    ws.workspace.mkdir(parents=True)
    (ws.workspace / "stray.txt").write_text("s")

    with pytest.raises(GitError, match="not a git worktree"):
        ws.remove()
    assert (ws.workspace / "stray.txt").exists()


# --- helpers ------------------------------------------------------------------------------------


def test_resolve_commit(repo: Path, base: str, make_repo: Callable[..., Path], tmp_path: Path) -> None:
    assert resolve_commit(repo, "HEAD") == base
    assert resolve_commit(repo, "main") == base
    with pytest.raises(GitError, match="no-such-ref"):
        resolve_commit(repo, "no-such-ref")
    with pytest.raises(GitError, match="--help"):
        resolve_commit(repo, "--help")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(GitError, match="HEAD"):
        resolve_commit(empty, "HEAD")


def test_repo_root(repo: Path, ws: RunWorktree, base: str, tmp_path: Path) -> None:
    assert repo_root(repo / "app") == repo.resolve()
    assert repo_root(repo / "app" / "calc.py") == repo.resolve()
    ws.create(base_sha=base, attempt=1)
    assert repo_root(ws.workspace / "app") == ws.workspace.resolve()
    assert common_git_dir(ws.workspace) == (repo / ".git").resolve()
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        repo_root(tmp_path / "plain")
    with pytest.raises(GitError, match="not a git repository"):
        repo_root(tmp_path / "missing")


def test_ensure_excluded_is_idempotent_and_hides_the_runs_dir(repo: Path, base: str) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.unlink(missing_ok=True)
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("# mine\n*.tmp")  # no trailing newline
    runs = repo / ".autonomous_runs"
    inside = manager(repo, runs, "inside")
    inside.create(base_sha=base, attempt=1)
    (runs / "inside" / "run.log").parent.mkdir(parents=True, exist_ok=True)
    (runs / "inside" / "run.log").write_text("log")
    assert git(repo, "status", "--porcelain") != ""

    for _ in range(3):
        ensure_excluded(repo, runs)
    ensure_excluded(repo, repo.parent / "elsewhere")  # outside: nothing to do

    assert exclude.read_text() == "# mine\n*.tmp\n/.autonomous_runs/\n"
    assert git(repo, "status", "--porcelain") == ""


def test_ensure_excluded_creates_the_file(repo: Path) -> None:
    import shutil

    shutil.rmtree(repo / ".git" / "info", ignore_errors=True)
    ensure_excluded(repo, repo / "a dir[1]")
    assert (repo / ".git" / "info" / "exclude").read_text() == "/a dir\\[1]/\n"
    (repo / "a dir[1]").mkdir()
    (repo / "a dir[1]" / "f").write_text("f")
    assert git(repo, "status", "--porcelain") == ""


def test_restoring_the_exclude_file_keeps_other_batches_runs_dirs(repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    ensure_excluded(repo, repo / ".runs-a")
    rules = IgnoreRules.snapshot(repo)
    (repo / ".runs-b[2]").mkdir()  # another batch in this checkout, started later
    ensure_excluded(repo, repo / ".runs-b[2]")
    assert rules.restore() == []  # nothing of a run's to undo
    before = exclude.read_text()
    assert before.splitlines()[-2:] == ["/.runs-a/", "/.runs-b\\[2]/"]

    # A run hides everything, and a tracked directory, and drops a line: all of it is undone.
    (repo / "src").mkdir()
    (repo / "src" / "kept.py").write_text("")
    git(repo, "add", "src")
    exclude.write_text(before.replace("/.runs-a/\n", "") + "*\n/src/\n")
    assert rules.restore() == [exclude]
    assert exclude.read_text() == before


def test_list_managed_worktrees(repo: Path, runs_dir: Path, base: str, tmp_path: Path) -> None:
    a, b = manager(repo, runs_dir, "a"), manager(repo, runs_dir, "b")
    a.create(base_sha=base, attempt=1)
    b.create(base_sha=base, attempt=1)
    git(b.workspace, "checkout", "-q", "--detach")
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "unmanaged"))

    infos = sorted(list_managed_worktrees(repo, runs_dir), key=lambda info: info.slug)

    assert [(i.slug, i.branch, i.head, i.path) for i in infos] == [
        ("a", "parallel-runs/a", base, a.workspace.resolve()),
        ("b", None, base, b.workspace.resolve()),
    ]


# --- concurrency --------------------------------------------------------------------------------


def _lifecycle(repo: Path, runs_dir: Path, slug: str, base: str, rounds: int) -> None:
    ws = manager(repo, runs_dir, slug)
    for attempt in range(1, rounds + 1):
        path = ws.create(base_sha=base, attempt=attempt)
        (path / f"{slug}.txt").write_text(f"{slug} {attempt}\n")
        ws.save_changes(run_id=slug, attempt=attempt, outcome=Outcome.SUCCEEDED, base_sha=base)
        ws.remove()


def _check_lifecycles(repo: Path, runs_dir: Path, slugs: list[str], rounds: int) -> None:
    for slug in slugs:
        branch = f"parallel-runs/{slug}"
        assert branch_files(repo, branch) == branch_files(repo, "main") | {f"{slug}.txt"}
        assert git(repo, "show", f"{branch}:{slug}.txt") == f"{slug} {rounds}"
        assert last_attempt_ref_number(repo, slug) == rounds - 1
    assert list_managed_worktrees(repo, runs_dir) == []


@pytest.mark.slow
def test_threads_create_save_remove_at_once(repo: Path, runs_dir: Path, base: str) -> None:
    slugs = [f"t{i}" for i in range(8)]
    barrier = threading.Barrier(len(slugs))
    errors: list[BaseException] = []

    def work(slug: str) -> None:
        try:
            barrier.wait()
            _lifecycle(repo, runs_dir, slug, base, 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(slug,)) for slug in slugs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    _check_lifecycles(repo, runs_dir, slugs, 3)


def _process_lifecycle(repo: Path, runs_dir: Path, slug: str, base: str, barrier: BarrierLike) -> None:
    barrier.wait()
    _lifecycle(repo, runs_dir, slug, base, 3)


@pytest.mark.slow
def test_processes_create_save_remove_at_once(repo: Path, runs_dir: Path, base: str) -> None:
    slugs = [f"p{i}" for i in range(6)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(slugs))
    procs = [
        context.Process(target=_process_lifecycle, args=(repo, runs_dir, slug, base, barrier))
        for slug in slugs
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)

    assert [proc.exitcode for proc in procs] == [0] * len(slugs)
    _check_lifecycles(repo, runs_dir, slugs, 3)


class SubmoduleRun(NamedTuple):
    repo: Path
    base: str
    ws: RunWorktree
    path: Path


@pytest.fixture
def submodule_run(make_repo: Callable[..., Path], runs_dir: Path) -> SubmoduleRun:
    """A run's worktree of a repository whose submodule `lib` is initialized in it."""
    library = make_repo("library", {"lib.txt": "lib\n"})
    repo = make_repo("main-repo")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    git(repo, "commit", "-q", "-m", "add submodule")
    base = git(repo, "rev-parse", "HEAD")
    ws = manager(repo, runs_dir)
    path = ws.create(base_sha=base, attempt=1)
    git(path, "-c", "protocol.file.allow=always", "submodule", "update", "--init", "-q")
    return SubmoduleRun(repo, base, ws, path)


def test_remove_a_worktree_of_a_repository_with_submodules(submodule_run: SubmoduleRun) -> None:
    repo, base, ws, path = submodule_run
    (path / "x.txt").write_text("x\n")
    (path / "lib" / "lib.txt").write_text("changed inside the submodule\n")

    save(ws, base)
    with pytest.raises(GitError, match="unsaved changes"):  # the submodule's own change
        ws.remove()
    git(path / "lib", "checkout", "-q", "--", "lib.txt")
    ws.remove()

    assert not path.exists()
    assert "x.txt" in branch_files(repo)


def test_commits_made_inside_a_submodule_survive_the_removal(submodule_run: SubmoduleRun) -> None:
    # A linked worktree keeps its submodules' repositories inside its own git dir: removing it
    # deleted the commits a run made there, leaving the run branch pointing at a lost commit.
    repo, base, ws, path = submodule_run
    (path / "lib" / "new.txt").write_text("made by the run inside the submodule\n")
    git(path / "lib", "add", "new.txt")
    git(path / "lib", "commit", "-q", "-m", "run's commit in the submodule")

    save(ws, base)
    ws.remove(just_saved=True)

    assert not path.exists()
    pinned = git(repo, "rev-parse", "parallel-runs/run-1:lib")
    assert git(repo, "show", f"{pinned}:new.txt") == "made by the run inside the submodule"


def test_uncommitted_changes_inside_a_submodule_block_the_removal_right_after_a_save(
    submodule_run: SubmoduleRun,
) -> None:
    _, base, ws, path = submodule_run
    (path / "lib" / "lib.txt").write_text("changed inside the submodule\n")

    save(ws, base)
    with pytest.raises(GitError, match="unsaved changes"):
        ws.remove(just_saved=True)
    assert (path / "lib" / "lib.txt").read_text() == "changed inside the submodule\n"
