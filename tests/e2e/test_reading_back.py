"""Reading records back (issue #12 §3): an unknown run or batch is exit 2 naming it, nothing found here
points at --database-url, and --batch names the batch on every command (--batch-id its alias)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli

HINT = "--database-url"


@pytest.fixture
def two_batches(repo: Path) -> Path:
    """Runs a1 (batch b1, via --batch) and a2 (batch b2, via the --batch-id alias)."""
    for run_id, flag, batch in (("a1", "--batch", "b1"), ("a2", "--batch-id", "b2")):
        done = cli("run", "--run-ids", run_id, flag, batch, "--command", "echo hi > out.txt", cwd=repo)
        assert done.returncode == 0, done.stdout + done.stderr
    return repo


def test_report_of_an_unknown_batch_is_exit_2_with_a_hint(
    two_batches: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(two_batches)
    for flag in ("--batch", "--batch-id"):
        assert main(["report", flag, "b1", "--format", "json"]) == 0
        assert [row["run_id"] for row in json.loads(capsys.readouterr().out)["runs"]] == ["a1"]
    for fmt in ("table", "json"):
        assert main(["report", "--batch", "nope", "--format", fmt]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert "no such batch 'nope'" in err
        assert HINT in err
        assert len(err.strip().splitlines()) == 1


def test_report_that_finds_nothing_here_hints_at_the_shared_store(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["report"]) == 0
    out, err = capsys.readouterr()
    assert "no runs found" in out
    assert HINT in err


def test_artifacts_read_this_machines_runs_dir(
    two_batches: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(two_batches)
    assert main(["artifacts", "list", "a1", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)["artifacts"]
    names = {row["name"] for row in listing}
    assert {"run.log", "result.json", "changes.patch"} <= names
    assert "a1.db" not in names  # the store is not an artifact
    assert {(row["attempt"], row["batch_id"]) for row in listing} == {(1, "b1")}
    assert main(["artifacts", "get", "a1", "changes.patch", "--batch-id", "b1"]) == 0
    assert "+hi" in capsys.readouterr().out
    assert main(["artifacts", "get", "a1", "result.json", "-o", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["run_id"] == "a1"
    # The run is here, but not in that batch; no attempt 3; no such file.
    for args, said in (
        (["list", "a1", "--batch", "b2"], "run 'a1' has no attempt in batch b2; its attempts: 1 (batch b1)"),
        (["list", "a1", "--attempt", "3"], "run 'a1' has no attempt 3"),
        (["get", "a1", "nope.txt"], "run 'a1' has no artifact 'nope.txt'"),
    ):
        assert main(["artifacts", *args]) == 2
        assert said in capsys.readouterr().err


def test_artifacts_of_an_unknown_run_say_so_and_hint_at_the_shared_store(
    two_batches: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(two_batches)
    for action in (["list", "ghost"], ["get", "ghost", "run.log"]):
        assert main(["artifacts", *action]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert "no such run 'ghost'" in err
        assert HINT in err
        assert len(err.strip().splitlines()) == 1


def test_batches_lists_one_line_per_batch_with_counts_and_times(
    two_batches: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = cli("run", "--run-ids", "bad", "--batch", "b1", "--command", "exit 4", cwd=two_batches)
    assert done.returncode == 1
    monkeypatch.chdir(two_batches)
    assert main(["batches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["b1", "b2"]  # oldest first
    assert lines[0].endswith("2 runs: 1 failed, 1 succeeded")
    assert lines[1].endswith("1 run: 1 succeeded")
    assert "\u2192" in lines[0]  # first → last
    assert main(["batches", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["batches"]
    assert [(b["batch_id"], b["runs"], b["counts"]) for b in listed] == [
        ("b1", 2, {"failed": 1, "succeeded": 1}),
        ("b2", 1, {"succeeded": 1}),
    ]
    assert all(b["first"] <= b["last"] for b in listed)


def test_batches_that_finds_none_here_hints_at_the_shared_store(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["batches"]) == 0
    out, err = capsys.readouterr()
    assert "no batches found" in out
    assert HINT in err


def test_runs_recorded_in_one_sqlite_file_are_read_back_by_every_reader(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --database-url sqlite:///FILE` records every run in FILE, not in a per-run store: `logs
    --batch` and `artifacts` find the run's attempts there (they once looked for the per-run file)."""
    monkeypatch.chdir(repo)
    url = f"sqlite:///{repo.parent / 'one.db'}"
    run = ["run", "--run-ids", "s1", "--batch", "b1", "--command", "echo hi", "--workers", "1"]
    assert main([*run, "--database-url", url]) == 0
    capsys.readouterr()

    assert main(["logs", "s1", "--batch", "b1", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "attempt 1" in out.splitlines()[0]
    assert "hi" in out
    assert main(["artifacts", "list", "s1", "--database-url", url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["artifacts"]
    assert {"run.log", "result.json"} <= {f["name"] for f in listed}
    assert {(f["attempt"], f["batch_id"]) for f in listed} == {(1, "b1")}
    assert main(["artifacts", "get", "s1", "result.json", "--database-url", url]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert main(["batches", "--database-url", url, "--format", "json"]) == 0
    assert [b["batch_id"] for b in json.loads(capsys.readouterr().out)["batches"]] == ["b1"]
