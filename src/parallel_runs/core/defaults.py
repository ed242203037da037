"""Defaults and limits shared by the settings (config), the stores and --help, kept free of imports. Pure."""

from __future__ import annotations

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "DEFAULT_MAX_JOBS",
    "MAX_JOBS",
    "PLACEHOLDERS",
]

# How long a shared-store claim lives without a heartbeat, in seconds (renewed every TTL/3).
DEFAULT_LEASE_TTL = 60.0
# Largest artifact file stored in the shared database, in bytes (50 MiB); bigger ones are skipped.
DEFAULT_MAX_ARTIFACT_SIZE = 50 * 1024 * 1024
# Time between SIGTERM and SIGKILL when a run is stopped, in seconds.
DEFAULT_GRACE_SECONDS = 10.0
# The `{name}` tokens a command may use; each names a RunContext field (CONTRACTS §4).
PLACEHOLDERS = ("run_id", "slug", "workspace", "artifacts_dir", "batch_id")
MAX_JOBS = 256  # GitHub's cap on the jobs of one matrix
DEFAULT_MAX_JOBS = 16
