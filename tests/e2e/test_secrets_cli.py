"""No secret in what leaves (issue #16 item 11), from the CLI: a failing run that prints its
environment leaves no token or password in result.json, the per-run store, the events, or any
report format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli

SECRETS = {
    "GITHUB_TOKEN": "ghs_jobLevelTokenOfTheTests00000001",
    "GH_TOKEN": "gho_cliTokenOfTheTests0000000000002",
    "ACTIONS_RUNTIME_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.runtime.sig",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.idtoken.sig",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.example/oidc/idtoken?api-version=2.0&x=7f3a",
}
APP_PASSWORD = "AppDbPassw0rd-of-the-tests"  # in the user's own DATABASE_URL, which reaches the run
# `env` prints everything; the lines after it put each secret in the tail that reports show.
PRINT_ALL = (
    'env; echo "$GITHUB_TOKEN $GH_TOKEN"; echo "$ACTIONS_RUNTIME_TOKEN"; '
    'echo "$ACTIONS_ID_TOKEN_REQUEST_TOKEN $ACTIONS_ID_TOKEN_REQUEST_URL"; echo "$DATABASE_URL"; exit 1'
)
FORMATS = ("table", "json", "markdown", "html", "summary")


def values() -> list[str]:
    return [*SECRETS.values(), APP_PASSWORD]


def holding(text: str) -> list[str]:
    return [value for value in values() if value in text]


def files_holding(root: Path, *, but: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path.name not in but:
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {v}" for v in values() if v.encode() in data]
    return found


def environment(tmp_path: Path) -> dict[str, str]:
    control = {name: str(tmp_path / name.lower()) for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
    return SECRETS | control | {"DATABASE_URL": f"postgresql://app:{APP_PASSWORD}@db.example/app"}


def test_the_issues_reproduction_token_in_the_environment_no_token_in_the_markdown_report(
    repo: Path, runs_dir: Path
) -> None:
    token = SECRETS["GITHUB_TOKEN"]
    env = {"GITHUB_TOKEN": token}
    # The issue's `env; exit 1`, and its token lines once more at the end: the report shows the last lines.
    command = "env; env | grep TOKEN; exit 1"
    ran = cli(
        "run", "--run-ids", "leak", "--runs-dir", str(runs_dir), "--command", command, cwd=repo, env=env
    )
    assert ran.returncode == 1, ran.stderr
    report = cli("report", "--runs-dir", str(runs_dir), "--format", "markdown", cwd=repo, env=env)
    assert report.returncode == 0, report.stderr
    assert "leak" in report.stdout
    assert token not in report.stdout
    assert token not in (runs_dir / "leak" / "run.log").read_text()  # the run never had it


def test_runs_get_no_token_and_no_runner_control_file(repo: Path, runs_dir: Path, tmp_path: Path) -> None:
    env = environment(tmp_path)
    command = 'env > "$PARALLEL_RUNS_ARTIFACTS_DIR/env.txt"'
    ran = cli(
        "run", "--run-ids", "probe", "--runs-dir", str(runs_dir), "--command", command, cwd=repo, env=env
    )
    assert ran.returncode == 0, ran.stderr
    seen = dict(
        line.split("=", 1)
        for line in (runs_dir / "probe" / "env.txt").read_text().splitlines()
        if "=" in line
    )
    withheld = {*SECRETS, "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"}
    assert withheld & set(seen) == set()
    assert seen["DATABASE_URL"] == env["DATABASE_URL"]  # the user's application's reaches the run unchanged
    assert seen["PARALLEL_RUNS_RUN_ID"] == "probe"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_that_prints_every_secret_leaves_none_in_what_leaves(
    repo: Path, runs_dir: Path, tmp_path: Path, fmt: str
) -> None:
    # Passed by name, the run has every secret and prints it: only run.log, its raw output, holds them.
    env = environment(tmp_path) | {"PARALLEL_RUNS_PASS_ENV": ",".join(SECRETS)}
    common = ("--runs-dir", str(runs_dir))
    ran = cli("run", "--run-ids", "leak", *common, "--json-events", "--command", PRINT_ALL, cwd=repo, env=env)
    assert ran.returncode == 1, ran.stderr
    assert holding((runs_dir / "leak" / "run.log").read_text()) == values()  # the run had them all
    assert holding(ran.stdout + ran.stderr) == []  # the events (with the error tail) and the messages
    result = json.loads((runs_dir / "leak" / "result.json").read_text())
    assert result["error_tail"]  # the tail is there, redacted
    assert "***" in result["error_tail"]
    assert files_holding(runs_dir / "leak", but=("run.log",)) == []  # result.json and leak.db (error_tail)
    report = cli("report", *common, "--format", fmt, cwd=repo, env=env)
    assert report.returncode == 0, report.stderr
    assert "leak" in report.stdout
    assert holding(report.stdout) == []
    written = tmp_path / f"report.{fmt}"
    assert (
        cli("report", *common, "--format", fmt, "--output", str(written), cwd=repo, env=env).returncode == 0
    )
    assert holding(written.read_text()) == []
