"""Reading the shared store back (issue #12): logs, batches, report and artifacts, on any machine."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli

FLAKY = 'echo "output of attempt $PARALLEL_RUNS_ATTEMPT"; [ "$PARALLEL_RUNS_ATTEMPT" -ge 2 ]'


@pytest.fixture
def shared_batch(repo: Path, database_url: str) -> str:
    """A shared batch: run `ok` succeeds, run `flaky` fails its attempt 1 and succeeds its attempt 2."""
    batch = f"b-{secrets.token_hex(4)}"
    common = ("--database-url", database_url, "--batch", batch, "--retries", "1")
    done = cli("run", *common, "--run-ids", f"ok-{batch}", f"flaky-{batch}", "--command", FLAKY, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    return batch


def test_logs_from_the_shared_store_one_attempt_at_a_time(
    shared_batch: str,
    database_url: str,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # another machine: no repository, no runs dir
    run_id = f"flaky-{shared_batch}"
    for extra, attempt in (([], 2), (["--attempt", "1"], 1), (["--batch-id", shared_batch], 2)):
        assert main(["logs", run_id, "--database-url", database_url, *extra]) == 0
        lines = capsysbinary.readouterr().out.decode().splitlines()
        assert lines[0].startswith(f"=== parallel-runs: attempt {attempt} \u00b7 started ")
        assert lines[1:] == [f"output of attempt {attempt}"]
    assert main(["logs", "ghost", "--database-url", database_url]) == 2
    assert "no such run 'ghost' in the shared store" in capsysbinary.readouterr().err.decode()


def test_report_and_artifacts_outside_a_repository_and_what_they_cannot_find(
    shared_batch: str,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no git repository here
    assert main(["report", "--database-url", database_url, "--batch", shared_batch, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"succeeded": 2}
    assert main(["report", "--database-url", database_url, "--batch", "nope", "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert (out, err.strip()) == ("", "parallel-runs: no such batch 'nope' in the shared store")
    for action in (["get", "ghost", "run.log"], ["list", "ghost"]):
        assert main(["artifacts", *action, "--database-url", database_url]) == 2
        out, err = capsys.readouterr()
        assert (out, err.strip()) == ("", "parallel-runs: no such run 'ghost' in the shared store")


def test_batches_counts_the_whole_shared_batch(
    shared_batch: str, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batches", "--database-url", database_url]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(shared_batch)]
    assert line.endswith("2 runs: 2 succeeded")
    assert main(["batches", "--database-url", database_url, "--format", "json"]) == 0
    [listed] = [b for b in json.loads(capsys.readouterr().out)["batches"] if b["batch_id"] == shared_batch]
    assert (listed["runs"], listed["counts"]) == (2, {"succeeded": 2})


def test_a_worker_names_the_batch_with_batch_id_too(repo: Path, shared_batch: str, database_url: str) -> None:
    done = cli("worker", "--database-url", database_url, "--batch-id", shared_batch, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr  # nothing left to do
