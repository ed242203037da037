"""The action's env, run-secrets and secrets inputs (issue #20 item 2): what they give the runs, and a
one-line usage error (exit 2) for a bad name, before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parallel_runs.errors import ConfigError
from parallel_runs.github.action.run_inputs import parse_env, read_run_inputs, read_secrets

GIVEN = json.dumps({"AGENT_API_KEY": "sk-one", "MULTI": "line-a\nline-b", "github_token": "ghs_x"})


def test_env_lines_keep_the_value_whole_and_skip_comments() -> None:
    assert parse_env("# c\n\nA=1\nB = x=y \n") == {"A": "1", "B": " x=y "}


def test_only_the_named_secrets_are_picked_case_blind_and_masked_line_by_line() -> None:
    picked = read_run_inputs({"run_secrets": "agent_api_key, MULTI", "secrets": GIVEN}, {})
    assert picked.secrets == {"agent_api_key": "sk-one", "MULTI": "line-a\nline-b"}
    assert picked.secret_values == {"sk-one", "line-a\nline-b", "line-a", "line-b"}
    assert read_secrets("FROM_STEP", "", {"FROM_STEP": "v4lue"}) == {"FROM_STEP": "v4lue"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"env": "JUSTAWORD"}, "input env, line 1: 'JUSTAWORD' is not NAME=value"),
        ({"env": "A=1\n9X=2"}, "input env, line 2: '9X' is not a variable name"),
        ({"env": "PARALLEL_RUNS_DATABASE_URL=x"}, "PARALLEL_RUNS_DATABASE_URL is not given to runs"),
        ({"env": "GIT_DIR=/x"}, "GIT_DIR is not given to runs"),
        ({"run_secrets": "github_token", "secrets": GIVEN}, "github_token is not given to runs"),
        ({"run_secrets": "GH_TOKEN"}, "GH_TOKEN is not given to runs"),
        ({"run_secrets": "a-b"}, "'a-b' is not a variable name"),
        ({"run_secrets": "MISSING", "secrets": GIVEN}, "no secret MISSING was given"),
        ({"run_secrets": "X", "secrets": "[1]"}, "input secrets is not a JSON object"),
        ({"run_secrets": "AGENT_API_KEY", "secrets": GIVEN, "env": "AGENT_API_KEY=1"}, "both name"),
    ],
)
def test_a_bad_input_is_a_usage_error_naming_it(inputs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=r"^input ") as raised:
        read_run_inputs(inputs, {})
    assert message in str(raised.value)


def test_the_step_exits_2_with_one_line_before_anything_runs(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARALLEL_RUNS_")}
    env |= {
        "PARALLEL_RUNS_ACTION_MODE": "run",
        "PARALLEL_RUNS_ACTION_RUN_SECRETS": "GITHUB_TOKEN",
        "RUNNER_TEMP": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "parallel_runs", "action", "prepare"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "run-secrets: GITHUB_TOKEN is not given to runs" in line
