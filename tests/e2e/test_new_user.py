"""Issue #16 items 13 and 15: what a new user meets first — files that never end, typos, a closed pipe,
a wrong store URL, a report read through `| cat`."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from parallel_runs.cli import main
from parallel_runs.config.run import MAX_IDS_FILE_BYTES


def one_line_exit_2(code: int, out: str, err: str) -> str:
    """The error line of a usage error: exit 2, one line on stderr, no traceback."""
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    return err.strip()


def test_an_ids_file_past_the_cap_is_refused_with_one_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    big = tmp_path / "ids.txt"
    line = b"an-id-that-is-valid\n"
    big.write_bytes(line * (MAX_IDS_FILE_BYTES // len(line) + 1))
    code = main(["run", "--run-ids-file", str(big), "--command", "true"])
    err = one_line_exit_2(code, *capsys.readouterr())
    assert f"--run-ids-file {big} is larger than 16 MiB" in err


def test_an_ids_file_at_the_cap_is_read(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    ids = tmp_path / "ids.txt"  # a comment pads it to exactly the cap: the cap is not one byte short
    ids.write_bytes(b"only-one\r\n#" + b"x" * (MAX_IDS_FILE_BYTES - 11))
    assert ids.stat().st_size == MAX_IDS_FILE_BYTES
    code = main(["run", "--run-ids-file", str(ids), "--command", "true", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "would run   only-one" in out


def _limit_memory() -> None:
    # Far above what the CLI needs, far below what reading /dev/zero to its end would take.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_dev_zero_as_ids_file_is_refused_after_a_bounded_read(repo: Path, tmp_path: Path) -> None:
    # Before: the whole "file" was read, 4 GB in 6 s, until memory ran out (here: exit 3, MemoryError).
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where an internal error would leave its traceback
    done = subprocess.run(
        [sys.executable, "-m", "parallel_runs", "run", "--run-ids-file", "/dev/zero", "--command", "true"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,  # the child's limit only, set before it starts
    )
    err = one_line_exit_2(done.returncode, done.stdout, done.stderr)
    said = "--run-ids-file /dev/zero is larger than 16 MiB: a batch takes at most 100000 run ids"
    assert err == f"parallel-runs: {said}"
    assert not list(tmp_path.glob("parallel-runs-error-*"))


@pytest.mark.parametrize(
    ("argv", "said", "meant"),
    [
        (["reprot"], "invalid choice: 'reprot' (choose from ", "report"),
        (
            ["run", "--comand", "true", "--run-ids", "a"],
            "parallel-runs run: unrecognized arguments: --comand",
            "--command",
        ),
        (
            ["report", "--fromat", "json"],
            "parallel-runs report: unrecognized arguments: --fromat json",
            "--format",
        ),
        (["report", "--format=jsno"], "invalid choice: 'jsno'", "json"),
        (["worktrees", "lsit"], "invalid choice: 'lsit'", "list"),
    ],
)
def test_a_typo_gets_a_did_you_mean(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    argv: list[str],
    said: str,
    meant: str,
) -> None:
    monkeypatch.chdir(repo)
    err = one_line_exit_2(main(argv), *capsys.readouterr())
    assert said in err
    assert err.endswith(f" (did you mean {meant}?)"), err


def test_nothing_near_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_exit_2(main(["zzzzzz"]), *capsys.readouterr())
    assert "did you mean" not in err


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("branches", "prune"),
        ("worktrees", "list"),
        ("artifacts", "list, get"),
        ("db", "upgrade"),
    ],
)
def test_a_missing_subcommand_names_the_choices(
    capsys: pytest.CaptureFixture[str], command: str, choices: str
) -> None:
    err = one_line_exit_2(main([command]), *capsys.readouterr())
    assert err == (
        f"parallel-runs {command}: the following arguments are required: ACTION (choose from: {choices})"
    )


def _reader_gone(*args: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a stdout whose reader has already gone, as `| head` leaves it once it has enough."""
    read, write = os.pipe()
    os.close(read)  # before the CLI writes a byte: its first write meets the closed pipe
    try:
        return subprocess.run(
            [sys.executable, "-m", "parallel_runs", *args],
            cwd=cwd,
            env={**os.environ, "TMPDIR": str(tmp)},  # where an internal error leaves its traceback file
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


def test_a_closed_pipe_is_a_normal_end_of_every_reading_command(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = str(tmp_path / "runs")
    monkeypatch.chdir(repo)  # the in-process run works the current directory's repository, not our checkout
    assert main(["run", "--run-ids", "long", "--command", "seq 1 100000", "--runs-dir", runs, "--quiet"]) == 0
    errors = tmp_path / "errors"
    errors.mkdir()
    # Before: `logs` ended in "internal error: BrokenPipeError", exit 3, and an error file each time;
    # `report` exited 1 (rich's SystemExit).
    for args in (("logs", "long"), ("report",), ("report", "--format", "json"), ("batches",)):
        done = _reader_gone(*args, "--runs-dir", runs, cwd=repo, tmp=errors)
        assert (done.returncode, done.stderr) == (0, ""), args
    assert not list(errors.iterdir())


def test_run_goes_on_to_its_own_exit_code_when_its_reader_is_gone(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = str(tmp_path / "runs")
    errors = tmp_path / "errors"
    errors.mkdir()
    for output in ((), ("--json-events",)):
        batch = f"piped{len(output)}"
        args = (
            "run",
            "--run-ids",
            f"{batch}-{{1..12}}",
            "--workers",
            "2",
            "--batch-id",
            batch,
            "--command",
            "true",
        )
        done = _reader_gone(*args, *output, "--runs-dir", runs, cwd=repo, tmp=errors)
        # Before: rich raised SystemExit in the worker thread that printed: exit 1, a run left `running`.
        assert (done.returncode, done.stderr) == (0, ""), output
        assert main(["report", "--format", "json", "--runs-dir", runs, "--batch", batch]) == 0
        assert json.loads(capsys.readouterr().out)["counts"] == {"succeeded": 12}
    assert not list(errors.iterdir())


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://x@y/z", "--database-url mysql://x@y/z: use sqlite:///FILE or a postgresql:// URL"),
        (
            "mysql://me:secret@y/z",
            "--database-url mysql://me:***@y/z: use sqlite:///FILE or a postgresql:// URL",
        ),
        (
            "sqlite:////nonexistent.db",
            "--database-url sqlite:////nonexistent.db: there is no SQLite store at ",
        ),
    ],
)
@pytest.mark.parametrize("command", ["report", "batches", "logs"])
def test_a_store_url_no_reader_can_read_is_refused(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    url: str,
    said: str,
    command: str,
) -> None:
    # Before: the URL was passed over, and the runs dir's table printed with exit 0.
    monkeypatch.chdir(repo)
    runs = str(tmp_path / "runs")
    assert main(["run", "--run-ids", "here", "--command", "true", "--runs-dir", runs, "--quiet"]) == 0
    capsys.readouterr()
    argv = [command, *(["here"] if command == "logs" else []), "--runs-dir", runs]
    err = one_line_exit_2(main([*argv, "--database-url", url]), *capsys.readouterr())
    assert err.startswith(f"parallel-runs: {said}")
    monkeypatch.setenv("PARALLEL_RUNS_DATABASE_URL", url)  # the variable is read the same way
    assert main(argv) == 2


def test_report_reads_the_sqlite_file_a_url_names(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    runs, url = str(tmp_path / "runs"), f"sqlite:///{tmp_path / 'one.db'}"
    assert main(["run", "--run-ids", "in-file", "--command", "true", "--runs-dir", runs, "--quiet"]) == 0
    shared = ["--database-url", url, "--workers", "1", "--quiet"]
    assert main(["run", "--run-ids", "in-one-file", "--command", "true", "--runs-dir", runs, *shared]) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json", "--runs-dir", runs, "--database-url", url]) == 0
    assert [row["run_id"] for row in json.loads(capsys.readouterr().out)["runs"]] == ["in-one-file"]


def test_a_report_through_a_pipe_or_into_a_file_is_as_wide_as_its_content(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes for a pipe when nothing says otherwise
    runs, run_id = str(tmp_path / "runs"), "a-run-id-long-enough-to-push-the-table-past-eighty-columns"
    assert main(["run", "--run-ids", run_id, "--command", "true", "--runs-dir", runs, "--quiet"]) == 0
    capsys.readouterr()
    # Before: cut at 80 columns, "succee…", and the branch name wrapped over 3 lines.
    assert main(["report", "--runs-dir", runs]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if run_id in line]
    assert "succeeded" in row
    assert f"parallel-runs/{run_id}" in row
    # Before: written 120 columns wide whatever the content.
    out = tmp_path / "report.txt"
    assert main(["report", "--runs-dir", runs, "--output", str(out), "--format", "table"]) == 0
    (row,) = [line for line in out.read_text().splitlines() if run_id in line]
    assert f"parallel-runs/{run_id}" in row


def test_a_broken_pipe_that_is_not_stdout_stays_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only our own reader going away is a normal end: a pipe to a child that died is reported (exit 3).
    def broken(*_args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("parallel_runs.cli.report.cmd_report", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the traceback file goes
    assert main(["report", "--runs-dir", str(tmp_path)]) == 3
    assert "internal error: BrokenPipeError" in capsys.readouterr().err
    assert len(list(tmp_path.glob("parallel-runs-error-*"))) == 1
