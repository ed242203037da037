"""Settings of plan, run --shard and the action's steps, built from flags and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.config import BatchToQueue, build_plan_settings, build_run_settings
from parallel_runs.core.command import inherited_environment
from parallel_runs.core.shards import Shard
from parallel_runs.errors import ConfigError
from parallel_runs.github.action.settings import build_action_settings

PG = "postgresql://u:pw@db/x"


def action_env(mode: str, **inputs: str) -> dict[str, str]:
    return {"PARALLEL_RUNS_ACTION_MODE": mode, "GITHUB_RUN_ID": "7", "RUNNER_TEMP": "/runner/temp", **inputs}


def test_run_shard_takes_every_nth_id(repo: Path) -> None:
    flags = {"run_ids": ["a,b,c,d,e"], "shard": "2/2", "command": "true"}
    request = build_run_settings(flags=flags, environ={}, cwd=repo).request
    assert request is not None
    assert request.run_ids == ("b", "d")
    with pytest.raises(ConfigError, match=r"shard 4/4 of 3 run id\(s\) is empty"):
        build_run_settings(
            flags={"run_ids": ["a,b,c"], "shard": "4/4", "command": "true"}, environ={}, cwd=repo
        )
    with pytest.raises(ConfigError, match="with --database-url use `worker`"):
        build_run_settings(flags=flags | {"database_url": PG}, environ={}, cwd=repo)


def test_plan_without_a_store_needs_no_command(repo: Path) -> None:
    settings = build_plan_settings(flags={"run_ids": ["x{1..5}"], "max_jobs": "2"}, environ={}, cwd=repo)
    assert (settings.run_ids, settings.max_jobs, settings.enqueue) == (
        ("x1", "x2", "x3", "x4", "x5"),
        2,
        None,
    )
    assert settings.batch_id  # a fresh one, that every leg must be given


def test_plan_with_a_store_is_the_whole_run_definition(repo: Path) -> None:
    flags = {
        "run_ids": ["a,b"],
        "database_url": PG,
        "command": "make it",
        "retries": "2",
        "batch_id": "nightly",
    }
    settings = build_plan_settings(flags=flags, environ={}, cwd=repo)
    assert isinstance(settings.enqueue, BatchToQueue)
    assert (settings.enqueue.request.retries, settings.batch_id, settings.max_jobs) == (2, "nightly", 16)
    with pytest.raises(ConfigError, match="no command given"):
        build_plan_settings(flags=flags | {"command": None}, environ={}, cwd=repo)


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({"shard": "1/2"}, {}, "--shard is for the legs"),
        ({"database_url": "sqlite:///x.db"}, {}, "need the shared PostgreSQL store"),
        ({"max_jobs": "300"}, {}, "between 1 and 256"),
        ({"github_output": True}, {}, "GITHUB_OUTPUT is not set"),
    ],
)
def test_plan_refuses(repo: Path, flags: dict[str, object], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_plan_settings(flags={"run_ids": ["a"], **flags}, environ=environ, cwd=repo)


def test_a_run_leg_without_a_store_runs_its_shard_and_never_sees_the_token(repo: Path) -> None:
    environ = action_env(
        "run",
        PARALLEL_RUNS_RUN_IDS="a,b,c",
        PARALLEL_RUNS_COMMAND="true",
        PARALLEL_RUNS_ACTION_LEG="3",
        PARALLEL_RUNS_ACTION_LEGS="3",
        PARALLEL_RUNS_GITHUB_TOKEN="ghs_secret",
        DATABASE_URL="postgresql://app@db/app",  # the user's application's, not ours
    )
    settings = build_action_settings(flags={"step": "main"}, environ=environ, cwd=repo)
    assert settings.leg is not None
    assert settings.leg.request is not None
    assert settings.leg.request.run_ids == ("c",)
    assert settings.leg.machine.database_url is None
    assert settings.leg.batch_id == "gh-7-1"
    # The engine knows the token (to redact it); the runs' environment leaves it out.
    assert "ghs_secret" in settings.leg.machine.secrets
    assert "PARALLEL_RUNS_GITHUB_TOKEN" not in inherited_environment(settings.leg.machine.environ)
    assert settings.token == "ghs_secret"
    assert settings.shard == Shard(3, 3)
    assert settings.names.runs_artifact == "parallel-runs-gh-7-1-leg-3"
    assert settings.runs_dir == repo / ".autonomous_runs"


def test_a_run_leg_with_a_store_is_a_worker(repo: Path) -> None:
    environ = action_env("run", PARALLEL_RUNS_DATABASE_URL=PG, PARALLEL_RUNS_BATCH_ID="b1")
    settings = build_action_settings(flags={"step": "main"}, environ=environ, cwd=repo)
    assert settings.leg is not None
    assert settings.leg.request is None  # a worker: the batch is the store's
    assert (settings.leg.machine.batch_id, settings.leg.machine.database_url) == ("b1", PG)


def test_the_report_reads_the_downloads_and_needs_no_checkout(tmp_path: Path) -> None:
    settings = build_action_settings(flags={"step": "main"}, environ=action_env("report"), cwd=tmp_path)
    assert settings.report is not None
    assert settings.report.where.runs_dir == Path("/runner/temp/parallel-runs/gh-7-1/runs")
    assert settings.names.runs_pattern == "parallel-runs-gh-7-1-leg-*"
    assert settings.fail_on_unsuccessful is True


def test_prepare_builds_no_engine_settings(repo: Path) -> None:
    settings = build_action_settings(flags={"step": "prepare"}, environ=action_env("plan"), cwd=repo)
    assert (settings.plan, settings.leg, settings.report) == (None, None, None)
    planned = build_action_settings(
        flags={"step": "main"}, environ=action_env("plan", PARALLEL_RUNS_RUN_IDS="a"), cwd=repo
    )
    assert planned.plan is not None
    assert planned.plan.run_ids == ("a",)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (action_env("deploy"), "input mode 'deploy'"),
        (action_env("report", PARALLEL_RUNS_DATABASE_URL="sqlite:///x"), "takes a postgresql:// URL"),
        (action_env("report", PARALLEL_RUNS_BATCH_ID="a\nb"), "input batch-id: invalid batch id"),
        (action_env("report", PARALLEL_RUNS_PUSH_BRANCHES="maybe"), "push-branches"),
        (
            action_env("report", PARALLEL_RUNS_PULL_REQUESTS="open"),
            "input pull-requests 'open' is not one of: none, draft, ready",
        ),
    ],
)
def test_bad_inputs_are_config_errors(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_action_settings(flags={"step": "main"}, environ=environ, cwd=tmp_path)
