"""Issue #16 item 8: `apply` overwrites nothing of the user's that git status does not show."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli, git

EDIT = "echo run-edit >> README.md; echo from-the-run > local.cfg"


@pytest.fixture
def ran(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run `a` edited README.md and added local.cfg; cwd is the repository."""
    done = cli("run", "--run-ids", "a", "--command", EDIT, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.chdir(repo)
    return repo


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
@pytest.mark.parametrize("mode", ["--merge", "--cherry-pick", "--patch"])
def test_apply_refuses_edits_hidden_by_index_flags(
    ran: Path, capsys: pytest.CaptureFixture[str], flag: str, mode: str
) -> None:
    repo, head = ran, git(ran, "rev-parse", "HEAD")
    git(repo, "update-index", flag, "README.md")
    (repo / "README.md").write_text("# demo\nthe user's own work\n")
    err = _refused(["apply", "a", mode], capsys)
    assert "assume-unchanged or skip-worktree: README.md" in err
    assert (repo / "README.md").read_text() == "# demo\nthe user's own work\n"
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_skip_worktree_file_missing_from_a_sparse_checkout_is_not_an_edit(ran: Path) -> None:
    repo = ran
    git(repo, "update-index", "--skip-worktree", "app/calc.py")
    (repo / "app" / "calc.py").unlink()
    assert main(["apply", "a"]) == 0


@pytest.mark.parametrize("mode", ["--merge", "--cherry-pick"])
def test_apply_refuses_to_overwrite_an_ignored_file_the_branch_adds(
    ran: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    repo, head = ran, git(ran, "rev-parse", "HEAD")
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("local.cfg\n")
    (repo / "local.cfg").write_text("the user's local settings\n")
    err = _refused(["apply", "a", mode], capsys)
    assert "adds files that the checkout" in err
    assert "git-ignored: local.cfg" in err
    assert (repo / "local.cfg").read_text() == "the user's local settings\n"
    assert git(repo, "rev-parse", "HEAD") == head
    (repo / "local.cfg").unlink()
    assert main(["apply", "a", mode]) == 0
    assert (repo / "local.cfg").read_text() == "from-the-run\n"
