"""Settings of the small commands: flags > environment > defaults, validated before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.config import (
    build_cleanup_settings,
    build_db_upgrade_settings,
    build_worktrees_list_settings,
)
from parallel_runs.errors import ConfigError

PG = "postgresql://u@db/x"
CWD = Path("/work/here")


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
