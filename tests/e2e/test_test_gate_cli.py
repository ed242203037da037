"""A test gate that cannot lie, through the CLI (issue #10): an itsdangerous-like project, a real suite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import signy
from tests.helpers import cli, git


@pytest.fixture
def project(make_repo: Callable[..., Path]) -> Path:
    repo = make_repo("signy", signy.FILES)
    signy.make_executable(repo)
    git(repo, "commit", "-qam", "scripts/test.sh is executable")
    return repo


def result(repo: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())
    return data


@pytest.mark.parametrize(
    ("test_command", "said"),
    [
        ("pytset -q", "`pytset -q` was not found (exit 127) at the base commit"),
        ("pytest -q", "`pytest -q` collected no test (exit 2, 1 collection error(s): ModuleNotFoundError"),
    ],
)
def test_an_unknown_command_or_an_empty_baseline_stops_the_batch_before_any_run(
    project: Path, test_command: str, said: str
) -> None:
    done = cli(
        *("run", "--run-ids", "a,b", "--command", "touch started", "--test-command", test_command),
        cwd=project,
        env=signy.environment(),
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    [message] = done.stderr.splitlines()  # one line, naming what happened and the fix
    assert said in message
    assert "no run was started" in message
    assert "Fix: " in message
    if test_command == "pytset -q":
        assert "It printed: bash: line 1: pytset: command not found. Fix: check its spelling" in message
    else:
        assert "Fix: make the code under test importable (PYTHONPATH=src in the test command" in message
    assert "started" not in done.stdout  # no attempt began
    runs_dir = project / ".autonomous_runs"
    assert not (runs_dir / "a").exists()
    assert not (runs_dir / "b").exists()
    assert "parallel-runs/" not in git(project, "branch", "--list")


def test_broken_and_crashed_runs_regress_and_test_by_products_are_not_their_change(project: Path) -> None:
    command = (
        f'case "$PARALLEL_RUNS_RUN_ID" in break) {signy.BREAK_SIGNER} ;; '
        "conftest) echo 'import nonexistent_mod' > tests/conftest.py ;; esac"
    )
    done = cli(
        *("run", "--run-ids", "break,conftest,same", "--command", command),
        *("--test-command", "PYTHONPATH=src pytest -q --junitxml=report.xml"),
        cwd=project,
        env=signy.environment(),
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "baseline  8 tests at the base commit: 8 passed, 0 failing, 0 skipped" in done.stdout
    assert "1 file(s) changed, tests +5 \u22120, 0 flaky) \u2192 parallel-runs/break" in done.stdout
    assert "tests crashed: exit 4: pytest's usage error" in done.stdout
    broken, crashed, same = (result(project, slug) for slug in ("break", "conftest", "same"))
    assert broken["status"] == "regressed"
    assert broken["tests"]["new_failures"] == list(signy.BROKEN)  # type: ignore[index]
    assert crashed["status"] == "regressed"
    assert crashed["tests"]["status"] == "tests_crashed"  # type: ignore[index]
    assert same["status"] == "succeeded"
    # report.xml, written by every test phase, is on no branch and counted nowhere.
    assert (broken["changed_files"], crashed["changed_files"], same["changed_files"]) == (1, 1, 0)
    for run_id in ("break", "conftest", "same"):
        files = git(project, "ls-tree", "-r", "--name-only", f"parallel-runs/{run_id}").split()
        assert "report.xml" not in files
    assert "report.xml" not in (project / ".autonomous_runs" / "break" / "changes.patch").read_text()
    markdown = cli("report", "--format", "markdown", cwd=project)
    assert f"  - `{signy.BROKEN[0]}`: Failed: DID NOT RAISE BadSignature" in markdown.stdout
    assert "- `conftest`: tests crashed: `exit 4: pytest's usage error" in markdown.stdout
