"""What --help prints of the settings: each flag's environment variable, and the choices and
defaults it names. Light: building the parser loads none of the rest of config/."""

from __future__ import annotations

from parallel_runs.config.options import OPTIONS

__all__ = [
    "ARTIFACTS_FORMATS",
    "BATCHES_FORMATS",
    "DEFAULT_CANCEL_TIMEOUT_SECONDS",
    "DEFAULT_DASHBOARD_HOST",
    "DEFAULT_DASHBOARD_PORT",
    "ENV",
    "WORKTREES_FORMATS",
]

# Flag name -> environment variable; --help prints these so users can find them. The batch options
# come from their table (config/options.py); these are the other commands'.
ENV = {opt.key: opt.env for opt in OPTIONS} | {
    "runs_dir": "PARALLEL_RUNS_RUNS_DIR",
    "source_repo": "PARALLEL_RUNS_SOURCE_REPO",
    "format": "PARALLEL_RUNS_REPORT_FORMAT",
    "output": "PARALLEL_RUNS_REPORT_OUTPUT",
    "batch": "PARALLEL_RUNS_BATCH_ID",  # --batch and its alias --batch-id read one variable everywhere
    "worktrees_format": "PARALLEL_RUNS_WORKTREES_FORMAT",
    "older_than": "PARALLEL_RUNS_CLEANUP_OLDER_THAN",
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
