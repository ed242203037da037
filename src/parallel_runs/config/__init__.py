"""One frozen Settings per command, built from flags > environment > defaults, validated here.

The only library package that reads the environment.
"""

from __future__ import annotations

import importlib

# typing.TYPE_CHECKING without importing typing: `--help` loads nothing it does not print.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from parallel_runs.config.apply import ApplySettings, build_apply_settings
    from parallel_runs.config.branches import BranchesPruneSettings, build_branches_prune_settings
    from parallel_runs.config.common import (
        DEFAULT_GRACE_SECONDS,
        DEFAULT_LEASE_TTL_SECONDS,
        DEFAULT_MAX_ARTIFACT_SIZE,
        DEFAULT_RUNS_DIR_NAME,
        SEED_DATABASE_URL_ENV,
        SEED_RUNS_DIR_ENV,
        SEED_SET_DATABASE_URL_ENV,
        absolute_path,
        default_batch_id,
        flag_bool,
        is_postgres_url,
        resolve_database_url,
        resolve_runs_dir,
        resolve_source_repo,
    )
    from parallel_runs.config.db import DbUpgradeSettings, build_db_upgrade_settings
    from parallel_runs.config.flags import ENV
    from parallel_runs.config.plan import PlanSettings, build_plan_settings, github_output_path
    from parallel_runs.config.report import ReportSettings, build_report_settings
    from parallel_runs.config.run import RunSettings, build_run_settings
    from parallel_runs.config.worker import WorkerSettings, build_worker_settings
    from parallel_runs.config.worktrees import (
        CleanupSettings,
        RecoverSettings,
        WorktreesListSettings,
        build_cleanup_settings,
        build_recover_settings,
        build_worktrees_list_settings,
    )

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_LEASE_TTL_SECONDS",
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "DEFAULT_RUNS_DIR_NAME",
    "ENV",
    "SEED_DATABASE_URL_ENV",
    "SEED_RUNS_DIR_ENV",
    "SEED_SET_DATABASE_URL_ENV",
    "ApplySettings",
    "BranchesPruneSettings",
    "CleanupSettings",
    "DbUpgradeSettings",
    "PlanSettings",
    "RecoverSettings",
    "ReportSettings",
    "RunSettings",
    "WorkerSettings",
    "WorktreesListSettings",
    "absolute_path",
    "build_apply_settings",
    "build_branches_prune_settings",
    "build_cleanup_settings",
    "build_db_upgrade_settings",
    "build_plan_settings",
    "build_recover_settings",
    "build_report_settings",
    "build_run_settings",
    "build_worker_settings",
    "build_worktrees_list_settings",
    "default_batch_id",
    "flag_bool",
    "github_output_path",
    "is_postgres_url",
    "resolve_database_url",
    "resolve_runs_dir",
    "resolve_source_repo",
]

# Each name's module, loaded on first use: the CLI builds its parser from config.flags alone.
_MODULES = {
    "apply": ("ApplySettings", "build_apply_settings"),
    "branches": ("BranchesPruneSettings", "build_branches_prune_settings"),
    "common": (
        "DEFAULT_GRACE_SECONDS",
        "DEFAULT_LEASE_TTL_SECONDS",
        "DEFAULT_MAX_ARTIFACT_SIZE",
        "DEFAULT_RUNS_DIR_NAME",
        "SEED_DATABASE_URL_ENV",
        "SEED_RUNS_DIR_ENV",
        "SEED_SET_DATABASE_URL_ENV",
        "absolute_path",
        "default_batch_id",
        "flag_bool",
        "is_postgres_url",
        "resolve_database_url",
        "resolve_runs_dir",
        "resolve_source_repo",
    ),
    "db": ("DbUpgradeSettings", "build_db_upgrade_settings"),
    "flags": ("ENV",),
    "plan": ("PlanSettings", "build_plan_settings", "github_output_path"),
    "report": ("ReportSettings", "build_report_settings"),
    "run": ("RunSettings", "build_run_settings"),
    "worker": ("WorkerSettings", "build_worker_settings"),
    "worktrees": (
        "CleanupSettings",
        "RecoverSettings",
        "WorktreesListSettings",
        "build_cleanup_settings",
        "build_recover_settings",
        "build_worktrees_list_settings",
    ),
}
_HOMES = {name: f"{__name__}.{module}" for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
