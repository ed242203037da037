"""Issue #16 item 7: a runs dir over the checkout's tracked files is refused (it is git-ignored for good)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import git

POSTGRES = "postgresql://nobody@127.0.0.1:1/never-reached"


@pytest.mark.parametrize(
    ("runs_dir", "said"),
    [
        ("app", "holds files git tracks (2, e.g. app/__init__.py)"),
        ("app/calc.py", "holds files git tracks (1, e.g. app/calc.py)"),
        (".", "lies above the checkout's tracked files (4, e.g. .gitignore)"),
        ("..", "lies above the checkout's tracked files"),
    ],
)
@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_runs_dir_over_tracked_files_is_exit_2_and_changes_nothing(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    runs_dir: str,
    said: str,
    command: str,
) -> None:
    monkeypatch.chdir(repo)
    exclude = (repo / ".git" / "info" / "exclude").read_bytes()
    what = ["--run-ids", "a", "--command", "true"] if command == "run" else ["--database-url", POSTGRES]
    code = main([command, *what, "--batch-id", "b1", "--runs-dir", runs_dir, "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert said in err
    assert len(err.strip().splitlines()) == 1, err
    assert (repo / ".git" / "info" / "exclude").read_bytes() == exclude
    assert git(repo, "status", "--porcelain", "--ignored") == ""  # no .locks/, workspaces/ in the checkout


def test_a_runs_dir_inside_a_tracked_directory_hides_only_itself(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    command = "echo new > app/new.py"
    assert main(["run", "--run-ids", "a", "--runs-dir", "app/runs", "--command", command, "--quiet"]) == 0
    assert git(repo, "show", "parallel-runs/a:app/new.py") == "new"
    assert (repo / ".git" / "info" / "exclude").read_text().splitlines()[-1] == "/app/runs/"
