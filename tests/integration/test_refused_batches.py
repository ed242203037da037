"""A batch refused at its baseline leaves a trace (issue #17 item 6): `batches` lists it `refused`
with why, and `report --batch` says why it has no runs. Real git, the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_runs.cli import main


def test_a_refused_batch_shows_in_batches_and_report(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    refused = ["run", "--batch-id", "nope", "--run-ids", "a,b", "--command", "true"]
    assert main([*refused, "--test-command", "echo broken here; exit 1"]) == 2
    assert "no run was started" in capsys.readouterr().err
    assert main(["run", "--batch-id", "fine", "--run-ids", "c", "--command", "true"]) == 0
    capsys.readouterr()

    assert main(["batches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    [line] = [line for line in lines if line.startswith("nope")]
    command = "`echo broken here; exit 1`"
    assert f"refused, 2 runs not started: the test command {command} failed (exit 1) and wrote no" in line
    assert any(line.startswith("fine") and "1 run: 1 succeeded" in line for line in lines)
    assert main(["batches", "--format", "json"]) == 0
    [nope] = [b for b in json.loads(capsys.readouterr().out)["batches"] if b["batch_id"] == "nope"]
    assert (nope["state"], nope["counts"]) == ("refused", {"not_started": 2})

    assert main(["report", "--batch", "nope"]) == 2
    [message] = capsys.readouterr().err.strip().splitlines()
    assert "batch 'nope' has no runs: it was refused, the test command" in message
    assert "It printed: broken here" in message
