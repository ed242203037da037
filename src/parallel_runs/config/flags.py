"""What --help prints of the settings: each flag's environment variable, and the choices and
defaults it names. Free of imports, so building the parser loads none of config/."""

from __future__ import annotations

__all__ = [
    "ARTIFACTS_FORMATS",
    "BATCHES_FORMATS",
    "DEFAULT_CANCEL_TIMEOUT_SECONDS",
    "DEFAULT_DASHBOARD_HOST",
    "DEFAULT_DASHBOARD_PORT",
    "ENV",
    "WORKTREES_FORMATS",
]

# Flag name -> environment variable; --help prints these so users can find them.
ENV = {
    "run_ids": "PARALLEL_RUNS_RUN_IDS",
    "run_ids_file": "PARALLEL_RUNS_RUN_IDS_FILE",
    "workers": "PARALLEL_RUNS_WORKERS",
    "command": "PARALLEL_RUNS_COMMAND",
    "timeout": "PARALLEL_RUNS_TIMEOUT",
    "grace": "PARALLEL_RUNS_GRACE",
    "keep_worktrees": "PARALLEL_RUNS_KEEP_WORKTREES",
    "pass_env": "PARALLEL_RUNS_PASS_ENV",
    "base_ref": "PARALLEL_RUNS_BASE_REF",
    "batch_id": "PARALLEL_RUNS_BATCH_ID",
    "runs_dir": "PARALLEL_RUNS_RUNS_DIR",
    "source_repo": "PARALLEL_RUNS_SOURCE_REPO",
    "format": "PARALLEL_RUNS_REPORT_FORMAT",
    "output": "PARALLEL_RUNS_REPORT_OUTPUT",
    "batch": "PARALLEL_RUNS_BATCH_ID",  # --batch and its alias --batch-id read one variable everywhere
    "retries": "PARALLEL_RUNS_RETRIES",
    "retry_delay": "PARALLEL_RUNS_RETRY_DELAY",
    "redo": "PARALLEL_RUNS_REDO",
    "only_failed": "PARALLEL_RUNS_ONLY_FAILED",
    "max_batch_time": "PARALLEL_RUNS_MAX_BATCH_TIME",
    "database_url": "PARALLEL_RUNS_DATABASE_URL",
    "quiet": "PARALLEL_RUNS_QUIET",
    "worktrees_format": "PARALLEL_RUNS_WORKTREES_FORMAT",
    "test_command": "PARALLEL_RUNS_TEST_COMMAND",
    "test_timeout": "PARALLEL_RUNS_TEST_TIMEOUT",
    "test_retries": "PARALLEL_RUNS_TEST_RETRIES",
    "test_report": "PARALLEL_RUNS_TEST_REPORT",
    "allow_empty_baseline": "PARALLEL_RUNS_ALLOW_EMPTY_BASELINE",
    "fail_on_regression": "PARALLEL_RUNS_FAIL_ON_REGRESSION",
    "lease_ttl": "PARALLEL_RUNS_LEASE_TTL",
    "setup_command": "PARALLEL_RUNS_SETUP_COMMAND",
    "copy_ignored": "PARALLEL_RUNS_COPY_IGNORED",
    "halt_on_failure": "PARALLEL_RUNS_HALT_ON_FAILURE",
    "dry_run": "PARALLEL_RUNS_DRY_RUN",
    "wait": "PARALLEL_RUNS_WORKER_WAIT",
    "max_artifact_size": "PARALLEL_RUNS_MAX_ARTIFACT_SIZE",
    "older_than": "PARALLEL_RUNS_CLEANUP_OLDER_THAN",
    "json_events": "PARALLEL_RUNS_JSON_EVENTS",
    "per_run_sqlite": "PARALLEL_RUNS_PER_RUN_SQLITE",
    "artifact_attempt": "PARALLEL_RUNS_ARTIFACT_ATTEMPT",
    "artifacts_format": "PARALLEL_RUNS_ARTIFACTS_FORMAT",
    "artifact_output": "PARALLEL_RUNS_ARTIFACT_OUTPUT",
    "logs_attempt": "PARALLEL_RUNS_LOGS_ATTEMPT",
    "follow": "PARALLEL_RUNS_LOGS_FOLLOW",
    "apply_mode": "PARALLEL_RUNS_APPLY_MODE",
    "apply_force": "PARALLEL_RUNS_APPLY_FORCE",
    "prune_older_than": "PARALLEL_RUNS_PRUNE_OLDER_THAN",
    "merged": "PARALLEL_RUNS_PRUNE_MERGED",
    "force": "PARALLEL_RUNS_PRUNE_FORCE",
    "batches_format": "PARALLEL_RUNS_BATCHES_FORMAT",
    "shard": "PARALLEL_RUNS_SHARD",
    "max_jobs": "PARALLEL_RUNS_MAX_JOBS",
    "github_output": "PARALLEL_RUNS_GITHUB_OUTPUT",
    "cancel_wait": "PARALLEL_RUNS_CANCEL_WAIT",
    "cancel_timeout": "PARALLEL_RUNS_CANCEL_TIMEOUT",
    "dashboard_token": "PARALLEL_RUNS_DASHBOARD_TOKEN",
    "dashboard_host": "PARALLEL_RUNS_DASHBOARD_HOST",
    "dashboard_port": "PARALLEL_RUNS_DASHBOARD_PORT",
    "allow_cancel": "PARALLEL_RUNS_DASHBOARD_ALLOW_CANCEL",  # --allow-cancel, and --read-only its negation
}
ARTIFACTS_FORMATS = ("table", "json")
BATCHES_FORMATS = ("table", "json")
WORKTREES_FORMATS = ("table", "json")
# Ample for a run to stop at the default lease TTL: a heartbeat (20 s), the grace (10 s), the save.
DEFAULT_CANCEL_TIMEOUT_SECONDS = 300.0
DEFAULT_DASHBOARD_HOST = "127.0.0.1"
DEFAULT_DASHBOARD_PORT = 8765
