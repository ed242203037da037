"""`plan` and `run --shard` through the CLI: the legs of a matrix, each running its share."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.action_harness import parse_output_file
from tests.helpers import cli, git


def test_plan_prints_and_writes_the_matrix_and_the_shards_cover_every_id_once(
    repo: Path, tmp_path: Path
) -> None:
    github_output = tmp_path / "github_output"
    github_output.write_text("")
    planned = cli(
        *("plan", "--run-ids", "x{1..7}", "--max-jobs", "3", "--batch-id", "b7", "--github-output"),
        cwd=repo,
        env={"GITHUB_OUTPUT": str(github_output)},
    )
    assert planned.returncode == 0, planned.stderr
    printed = parse_output_file(planned.stdout)
    assert printed == {
        "matrix": '{"leg":[1,2,3]}',
        "batch-id": "b7",
        "run-count": "7",
        "base-sha": git(repo, "rev-parse", "HEAD"),
        "legs": "3",
        "mode": "shard",
    }
    assert parse_output_file(github_output.read_text()) == printed

    ledger = tmp_path / "ledger"
    for leg in json.loads(printed["matrix"])["leg"]:
        done = cli(
            *("run", "--run-ids", "x{1..7}", "--shard", f"{leg}/3", "--batch-id", "b7", "--quiet"),
            *("--base-ref", printed["base-sha"], "--command", f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}'),
            cwd=repo,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert Counter(ledger.read_text().split()) == Counter(f"x{n}" for n in range(1, 8))
    report = cli("report", "--format", "json", "--batch", "b7", cwd=repo)
    assert json.loads(report.stdout)["counts"] == {"succeeded": 7}


def test_plan_never_makes_more_legs_than_runs(repo: Path) -> None:
    done = cli("plan", "--run-ids", "only,two", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert parse_output_file(done.stdout)["matrix"] == '{"leg":[1,2]}'


def test_plan_usage_errors_exit_2(repo: Path) -> None:
    for args in (("--max-jobs", "257"), ("--shard", "1/2"), ("--github-output",)):
        done = cli("plan", "--run-ids", "a", *args, cwd=repo, env={"GITHUB_OUTPUT": ""})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
