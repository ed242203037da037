"""Settings of the small commands: flags > environment > defaults, validated before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli.artifacts import build_artifacts_get_settings, build_artifacts_list_settings
from parallel_runs.config import (
    build_cleanup_settings,
    build_db_upgrade_settings,
    build_run_settings,
    build_worktrees_list_settings,
)
from parallel_runs.errors import ConfigError

PG = "postgresql://u@db/x"
CWD = Path("/work/here")


def artifacts_flags(**given: object) -> dict[str, object]:
    return {"run_id": "r1", "batch": None, "attempt": None, "database_url": None, **given}


def test_artifacts_list_defaults_and_the_shared_store() -> None:
    settings = build_artifacts_list_settings(
        flags=artifacts_flags(format=None, database_url=PG), environ={}, cwd=CWD
    )
    assert (settings.where.database_url, settings.run_id, settings.batch_id, settings.attempt) == (
        PG,
        "r1",
        None,
        None,
    )
    assert settings.format == "table"


def test_artifacts_options_come_from_their_own_variables_when_no_flag_is_given() -> None:
    environ = {
        "PARALLEL_RUNS_DATABASE_URL": PG,
        "PARALLEL_RUNS_BATCH_ID": "b7",
        "PARALLEL_RUNS_ARTIFACT_ATTEMPT": "2",
        "PARALLEL_RUNS_ARTIFACTS_FORMAT": "json",
        "PARALLEL_RUNS_REPORT_FORMAT": "html",  # the report's, not ours
        "PARALLEL_RUNS_ARTIFACT_OUTPUT": "out/run.log",
    }
    listed = build_artifacts_list_settings(flags=artifacts_flags(format=None), environ=environ, cwd=CWD)
    assert (listed.batch_id, listed.attempt, listed.format) == ("b7", 2, "json")
    got = build_artifacts_get_settings(
        flags=artifacts_flags(name="run.log", output=None), environ=environ, cwd=CWD
    )
    assert (got.name, got.output) == ("run.log", CWD / "out" / "run.log")


def test_artifact_flags_win_over_the_environment() -> None:
    environ = {"PARALLEL_RUNS_ARTIFACT_ATTEMPT": "2", "PARALLEL_RUNS_ARTIFACTS_FORMAT": "json"}
    settings = build_artifacts_list_settings(
        flags=artifacts_flags(attempt="5", format="table", database_url=PG), environ=environ, cwd=CWD
    )
    assert (settings.attempt, settings.format) == (5, "table")


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (
            {},
            {"PARALLEL_RUNS_ARTIFACT_ATTEMPT": "x"},
            "PARALLEL_RUNS_ARTIFACT_ATTEMPT='x' is not an attempt number",
        ),
        (
            {},
            {"PARALLEL_RUNS_ARTIFACT_ATTEMPT": "-1"},
            "PARALLEL_RUNS_ARTIFACT_ATTEMPT='-1' is not an attempt",
        ),
        ({"attempt": "two"}, {}, "--attempt='two' is not an attempt number"),
        ({}, {"PARALLEL_RUNS_ARTIFACTS_FORMAT": "xml"}, "PARALLEL_RUNS_ARTIFACTS_FORMAT='xml' is not one of"),
    ],
)
def test_bad_artifact_options_are_config_errors(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        build_artifacts_list_settings(flags=artifacts_flags(format=None, **flags), environ=environ, cwd=CWD)


def test_artifacts_without_a_shared_store_read_the_runs_dir(tmp_path: Path) -> None:
    (tmp_path / "a.db").touch()  # a SQLite URL must name a store that is there (issue #16)
    for url, store_file in ((None, None), ("sqlite:///a.db", tmp_path / "a.db")):
        flags = artifacts_flags(format=None, database_url=url, runs_dir="runs")
        settings = build_artifacts_list_settings(flags=flags, environ={}, cwd=tmp_path)
        assert (settings.where.database_url, settings.where.runs_dir) == (None, tmp_path / "runs")
        assert settings.where.store_file == store_file


def test_db_upgrade_needs_a_database_url() -> None:
    assert build_db_upgrade_settings(flags={"database_url": PG}, environ={}, cwd=CWD).database_url == PG
    env = build_db_upgrade_settings(flags={}, environ={"PARALLEL_RUNS_DATABASE_URL": PG}, cwd=CWD)
    assert env.database_url == PG
    with pytest.raises(ConfigError, match="db upgrade: give --database-url URL"):
        build_db_upgrade_settings(flags={}, environ={}, cwd=CWD)


def test_worktree_options_are_checked_before_the_repository_is_looked_for(tmp_path: Path) -> None:
    # tmp_path is no repository: the option errors must come first, as they did.
    with pytest.raises(ConfigError, match="PARALLEL_RUNS_WORKTREES_FORMAT='xml' is not one of: table, json"):
        build_worktrees_list_settings(
            flags={"format": None}, environ={"PARALLEL_RUNS_WORKTREES_FORMAT": "xml"}, cwd=tmp_path
        )
    with pytest.raises(ConfigError, match="invalid duration 'soon'"):
        build_cleanup_settings(
            flags={"older_than": None}, environ={"PARALLEL_RUNS_CLEANUP_OLDER_THAN": "soon"}, cwd=tmp_path
        )


def run_flags(**given: object) -> dict[str, object]:
    return {"run_ids": ["a"], "command": "true", **given}


def test_the_test_gate_reads_report_globs_and_the_empty_baseline_override(repo: Path) -> None:
    flags = run_flags(test_command="make test", test_report=["build/test-results/**/*.xml", "report.xml"])
    settings = build_run_settings(flags=flags | {"allow_empty_baseline": True}, environ={}, cwd=repo)
    assert settings.tests is not None
    assert settings.tests.reports == ("build/test-results/**/*.xml", "report.xml")
    assert settings.tests.allow_empty_baseline
    environ = {"PARALLEL_RUNS_TEST_REPORT": "out/*.xml", "PARALLEL_RUNS_ALLOW_EMPTY_BASELINE": "1"}
    from_env = build_run_settings(flags=run_flags(test_command="make test"), environ=environ, cwd=repo)
    assert from_env.tests is not None
    assert (from_env.tests.reports, from_env.tests.allow_empty_baseline) == (("out/*.xml",), True)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"test_report": ["r.xml"]}, "--test-report applies to the test gate: add --test-command"),
        ({"allow_empty_baseline": True}, "--allow-empty-baseline applies to the test gate"),
        ({"test_command": "make", "test_report": ["/tmp/r.xml"]}, "must be relative to the worktree"),
        ({"test_command": "make", "test_report": ["../r.xml"]}, "must not leave the worktree"),
    ],
)
def test_test_gate_options_are_validated(repo: Path, given: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_run_settings(flags=run_flags(**given), environ={}, cwd=repo)
