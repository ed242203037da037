"""`parallel-runs apply` (issue #12 §4): a run's result onto the current branch, or nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli, finish, git, start_cli, wait_for

EDIT = "sed -i 's/a + b/a + b  # {run_id}/' app/calc.py; echo {run_id} > new-{run_id}.txt"


def state(repo: Path) -> tuple[str, str]:
    """HEAD and `git status` (what must not change when apply refuses)."""
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")


@pytest.fixture
def ran(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs m1, m2, m3, each editing app/calc.py and adding a file; cwd is the repository."""
    done = cli("run", "--run-ids", "m1,m2,m3", "--command", EDIT, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.chdir(repo)
    return repo


def test_apply_merges_cherry_picks_or_patches(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = ran
    start = git(repo, "rev-parse", "HEAD")
    assert main(["apply", "m1"]) == 0
    assert "applied parallel-runs/m1 onto main by merge: 2 file(s) changed" in capsys.readouterr().out
    assert git(repo, "rev-parse", "HEAD^1", "HEAD^2").split() == [
        start,
        git(repo, "rev-parse", "parallel-runs/m1"),
    ]
    assert (repo / "new-m1.txt").read_text() == "m1\n"
    assert main(["apply", "m1"]) == 0
    assert "nothing to apply: parallel-runs/m1 is already in main" in capsys.readouterr().out

    git(repo, "reset", "--hard", "--quiet", start)
    assert main(["apply", "m2", "--cherry-pick"]) == 0
    assert "by cherry-pick" in capsys.readouterr().out
    assert git(repo, "rev-parse", "HEAD^") == start  # linear: no merge commit
    assert "a + b  # m2" in (repo / "app" / "calc.py").read_text()

    git(repo, "reset", "--hard", "--quiet", start)
    git(repo, "clean", "-fdq")
    assert main(["apply", "m3", "--patch"]) == 0
    assert "not committed" in capsys.readouterr().out
    assert state(repo) == (start, "M  app/calc.py\nA  new-m3.txt")


def test_apply_refuses_a_dirty_checkout_and_a_conflict_leaving_it_as_it_was(
    ran: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ran
    (repo / "README.md").write_text("# changed, not committed\n")
    before = state(repo)
    assert main(["apply", "m1"]) == 2
    err = capsys.readouterr().err
    assert "has uncommitted changes (1 file(s), e.g. README.md): commit or stash them first" in err
    assert len(err.strip().splitlines()) == 1
    assert state(repo) == before
    git(repo, "checkout", "--quiet", "README.md")

    (repo / "app" / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    git(repo, "commit", "--quiet", "-am", "a change of our own")
    before = state(repo)
    for mode in ("--merge", "--cherry-pick", "--patch"):
        assert main(["apply", "m1", mode]) == 2
        err = capsys.readouterr().err
        assert "the checkout is as it was" in err
        assert len(err.strip().splitlines()) == 1
        assert state(repo) == before, mode
        assert not (repo / ".git" / "MERGE_HEAD").exists()
        assert not (repo / ".git" / "CHERRY_PICK_HEAD").exists()


def test_apply_of_an_unknown_or_running_run(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = tmp_path / "gate"
    runner = start_cli(
        "run", "--run-ids", "busy", "--command", f"while [ ! -e {gate} ]; do sleep 0.05; done", cwd=repo
    )
    try:
        wait_for((repo / ".autonomous_runs" / "workspaces" / "busy").is_dir, what="the run to start")
        assert main(["apply", "busy", "--source-repo", str(repo)]) == 75
        assert "run 'busy' is already held by" in capsys.readouterr().err
    finally:
        gate.touch()
        finish(runner)
    assert main(["apply", "ghost", "--source-repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "no such run 'ghost'" in err
    assert "--database-url" in err


def test_apply_refuses_a_run_that_did_not_succeed_unless_forced(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Judged by exit status (the check writes no per-test report): the run breaks it, so it regresses.
    check = "grep -q 'a + b' app/calc.py"
    done = cli(
        *("run", "--run-ids", "breaks", "--command", "sed -i 's/a + b/a - b/' app/calc.py"),
        *("--test-command", check),
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    monkeypatch.chdir(repo)
    before = state(repo)
    assert main(["apply", "breaks"]) == 2
    [message] = capsys.readouterr().err.strip().splitlines()
    assert "run 'breaks' ended regressed: not applied (--force to apply it anyway" in message
    assert state(repo) == before
    assert main(["apply", "breaks", "--force"]) == 0
    assert "a - b" in (repo / "app" / "calc.py").read_text()
