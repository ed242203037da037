"""The worktree tools users reach for (issue #12): setup, copied ignored files, halting, dry runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.helpers import cli, git


def result_of(repo: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())
    return data


def test_setup_runs_in_each_fresh_worktree_before_the_command(repo: Path) -> None:
    setup = "echo generated > _version.txt"  # an ignored file, as generated code usually is
    (repo / ".gitignore").write_text("_version.txt\n")
    git(repo, "commit", "--quiet", "-am", "ignore the generated file")
    command = "cat _version.txt > seen.txt"
    done = cli("run", "--run-ids", "s1,s2", "--setup-command", setup, "--command", command, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    for run_id in ("s1", "s2"):
        assert git(repo, "show", f"parallel-runs/{run_id}:seen.txt") == "generated"
        log = (repo / ".autonomous_runs" / run_id / "run.log").read_text()
        assert "--- parallel-runs: setup · echo generated > _version.txt ---" in log
        assert "--- parallel-runs: setup took" in log


def test_a_failed_setup_is_a_failed_attempt_saying_so(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "s1",
        "--setup-command",
        "echo no compiler; exit 4",
        "--command",
        "touch ran",
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    result = result_of(repo, "s1")
    assert result["status"] == "failed"
    assert str(result["error"]).startswith("setup_failed: the setup command exited 4 after")
    assert result["error_tail"] == "no compiler"
    assert "ran" not in git(repo, "ls-tree", "--name-only", "parallel-runs/s1")  # the command never ran


def test_copy_ignored_brings_matching_ignored_files_into_each_worktree(repo: Path) -> None:
    (repo / ".gitignore").write_text(".env\ncache/\nsecret.key\n")
    git(repo, "commit", "--quiet", "-am", "ignores")
    (repo / ".env").write_text("TOKEN=1\n")
    (repo / "cache").mkdir()
    (repo / "cache" / "blob.bin").write_text("cached\n")
    (repo / "secret.key").write_text("not asked for\n")
    command = "cat .env cache/blob.bin > seen.txt; test ! -e secret.key"
    done = cli(
        "run",
        "--run-ids",
        "c1",
        "--copy-ignored",
        ".env",
        "--copy-ignored",
        "cache",
        "--command",
        command,
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "show", "parallel-runs/c1:seen.txt") == "TOKEN=1\ncached"
    assert ".env" not in git(repo, "ls-tree", "-r", "--name-only", "parallel-runs/c1")  # still ignored


def test_halt_on_failure_starts_nothing_new_after_n_failures(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "h{1..6}",
        "--workers",
        "1",
        "--halt-on-failure",
        "2",
        "--json-events",
        "--command",
        "exit 1",
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    finished = [e["run_id"] for e in events if e["event"] == "attempt_finished"]
    not_started = sorted(e["run_id"] for e in events if e["event"] == "run_not_started")
    assert finished == ["h1", "h2"]
    assert not_started == ["h3", "h4", "h5", "h6"]
    assert [e["failed"] for e in events if e["event"] == "halted"] == [2]


def test_dry_run_says_what_would_happen_and_touches_nothing(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo("dry")
    first = cli("run", "--run-ids", "ok,bad", "--command", 'test "$PARALLEL_RUNS_RUN_ID" = ok', cwd=repo)
    assert first.returncode == 1
    before = sorted(p.relative_to(repo) for p in (repo / ".autonomous_runs").rglob("*"))
    refs = git(repo, "for-each-ref")
    dry = cli("run", "--run-ids", "ok,bad,new", "--dry-run", "--command", "true", cwd=repo)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would skip  ok: attempt 1 already succeeded" in dry.stdout
    assert "would retry bad: attempt 1 ended failed" in dry.stdout
    assert "would run   new: never ran" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert sorted(p.relative_to(repo) for p in (repo / ".autonomous_runs").rglob("*")) == before
    assert git(repo, "for-each-ref") == refs


def test_the_setup_command_prepares_the_baselines_worktree_too(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(
        "generated",
        {
            ".gitignore": "_generated.py\n",
            "tests/test_generated.py": (
                "def test_generated():\n    import _generated\n\n    assert _generated.X == 1\n"
            ),
        },
    )
    tests = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    common = ("run", "--run-ids", "g1", "--command", "true", "--test-command", tests)
    without = cli(*common, cwd=repo, env={"PYTHONPATH": "."})
    assert without.returncode == 2, without.stdout + without.stderr  # the baseline cannot even import
    setup = "echo 'X = 1' > _generated.py"
    done = cli(*common, "--setup-command", setup, cwd=repo, env={"PYTHONPATH": "."})
    assert done.returncode == 0, done.stdout + done.stderr
    assert result_of(repo, "g1")["tests"]["status"] == "passed"  # type: ignore[index]
