"""Issue #12 §5, "small things, all observed": each through the CLI, each failing on the code before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("report",), "latest attempt"),
        (("cleanup",), "committing whatever they hold"),
        (("recover",), "holder died"),
        (("worktrees", "list"), "orphaned: its process died"),
        (("db", "upgrade"), "Alembic"),
    ],
)
def test_each_command_describes_itself_in_help(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], said: str
) -> None:
    text = help_of(capsys, *command)
    description = text.split("\n\n")[1]  # between the usage and the options
    assert not description.startswith(("options:", "positional arguments:")), text
    assert said in " ".join(description.split())


@pytest.mark.parametrize(
    ("command", "own", "not_its_own"),
    [
        (("run",), "75 a run is held by another live process", None),
        (("report",), "2 usage error, or no such batch", "75"),
        (("cleanup",), "1 a worktree could not be saved or removed", "75"),
        (("worktrees", "list"), "0 listed", "1 a run did not succeed"),
        (("db", "upgrade"), "0 the schema is up to date", "130 interrupted"),
        (("artifacts", "get"), "no such run, attempt or artifact", "75"),
    ],
)
def test_each_command_lists_its_own_exit_codes(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], own: str, not_its_own: str | None
) -> None:
    codes = " ".join(help_of(capsys, *command).split("exit codes:")[1].split())
    assert own in codes
    assert "3 internal error" in codes
    if not_its_own is not None:
        assert not_its_own not in codes
    if command != ("run",):
        assert "every run succeeded" not in codes


def test_an_unknown_placeholder_is_exit_2_naming_it(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["run", "--run-ids", "a", "--command", "echo {run_id} {nope} > out.txt"]) == 2
    err = capsys.readouterr().err
    assert "{nope}" in err
    assert "{{nope}}" in err  # how to keep it literal
    assert len(err.strip().splitlines()) == 1
    assert main(["run", "--run-ids", "a", "--", "echo", "{slug}", "{nope2}"]) == 2
    assert "{nope2}" in capsys.readouterr().err
    assert not (repo / ".autonomous_runs").exists()  # refused before anything ran


def test_several_run_ids_stdin_and_a_start_line_that_says_what_really_runs(repo: Path) -> None:
    # What `--run-ids u{1..2}` is after an unquoted brace expansion, plus an id from stdin.
    done = cli(
        "run",
        "--run-ids",
        "u1",
        "u2",
        "--run-ids-file",
        "-",
        "--workers",
        "4",
        "--command",
        "echo {run_id} '{{kept}}' ${HOME:+home} > out.txt",
        cwd=repo,
        stdin="# from a pipe\nu3\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 runs, 3 workers" in done.stdout
    assert "run(s)" not in done.stdout
    ran = sorted(p.name for p in (repo / ".autonomous_runs").iterdir() if (p / "result.json").is_file())
    assert ran == ["u1", "u2", "u3"]
    patch = (repo / ".autonomous_runs" / "u3" / "changes.patch").read_text()
    assert "+u3 {kept} home" in patch


def test_the_budget_stop_does_not_ask_for_a_ctrl_c_nobody_pressed(repo: Path) -> None:
    budget = ("--max-batch-time", "1s")
    done = cli("run", "--run-ids", "slow", "--workers", "2", *budget, "--command", "sleep 30", cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 run, 1 worker," in done.stdout
    assert "stopping (budget)" in done.stdout
    assert "Ctrl-C" not in done.stdout


def test_a_signalled_command_reads_one_way_everywhere(repo: Path) -> None:
    # `sleep` alone: Python sees -15 for the execed bash. A trap: bash itself exits 143.
    commands = {"plain": "sleep 30", "trapped": "trap 'exit 143' TERM; sleep 30 & wait"}
    for run_id, command in commands.items():
        done = cli(
            "run",
            "--run-ids",
            run_id,
            "--batch-id",
            f"batch-{run_id}",  # a dated id could hold "-15"
            "--timeout",
            "1s",
            "--json-events",
            "--command",
            command,
            cwd=repo,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        finished = [json.loads(line) for line in done.stdout.splitlines() if "attempt_finished" in line]
        assert [(e["status"], e["exit_code"]) for e in finished] == [("timed_out", 143)]
        result = json.loads((repo / ".autonomous_runs" / run_id / "result.json").read_text())
        assert result["exit_code"] == 143
    report = cli("report", "--format", "json", cwd=repo)
    assert {row["exit_code"] for row in json.loads(report.stdout)["runs"]} == {143}
    for fmt in ("table", "markdown", "html"):
        text = cli("report", "--format", fmt, cwd=repo, env={"COLUMNS": "200"}).stdout
        assert text.count("143 (SIGTERM)") == 2, text
        assert "-15" not in text
    plain = cli("run", "--run-ids", "again", "--timeout", "1s", "--command", "sleep 30", cwd=repo)
    assert "exit 143 (SIGTERM)" in plain.stdout


SUPERVISOR = [sys.executable, "-m", "parallel_runs.cli.seed"]


def test_autopack_supervisor_has_redo_timeout_and_version(repo: Path, tmp_path: Path) -> None:
    def supervisor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SUPERVISOR, *args], cwd=repo, capture_output=True, text=True, timeout=120, check=False
        )

    version = supervisor("--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "autopack-supervisor")
    ledger = tmp_path / "ledger"
    first = supervisor("--run-ids", "s1", "--command", f"echo ran >> {ledger}")
    assert first.returncode == 0, first.stderr
    skipped = supervisor("--run-ids", "s1", "--command", f"echo ran >> {ledger}")
    assert "use --redo" in skipped.stdout
    redone = supervisor("--run-ids", "s1", "--redo", "--command", f"echo ran >> {ledger}")
    assert redone.returncode == 0, redone.stderr
    assert ledger.read_text().splitlines() == ["ran", "ran"]
    slow = supervisor("--run-ids", "s2", "--timeout", "1s", "--command", "sleep 30")
    assert slow.returncode == 1
    assert "timed_out" in slow.stdout
