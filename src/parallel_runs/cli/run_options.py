"""The options of `parallel-runs run`, as a table (`plan` takes the same ones)."""

from __future__ import annotations

import argparse

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RUN_OPTIONS", "STORE_OPTIONS"]

_APPEND = {"action": "append"}
_FLAG = {"action": "store_true", "default": None}
# The `run` options: (flag or flags, key of its value and environment variable, help, argparse extras).
RUN_OPTIONS: tuple[tuple[str | tuple[str, ...], str, str, dict[str, Any]], ...] = (
    (
        "--run-ids",
        "run_ids",
        "run ids, separated by commas/whitespace; brace ranges exp-{001..20} and lists x-{a,b} expand; "
        "several values (what an unquoted u{1..3} becomes in a shell) and repeatable",
        {"action": "extend", "nargs": "+", "metavar": "IDS"},
    ),
    (
        "--run-ids-file",
        "run_ids_file",
        "file with one run id per line (# comments), - for stdin; repeatable",
        _APPEND | {"metavar": "FILE"},
    ),
    (
        "--shard",
        "shard",
        "run only shard K of N of the ids (every N-th id from the K-th), as a leg of a `plan` matrix does",
        {"metavar": "K/N"},
    ),
    ("--workers", "workers", "runs executing at once (default: min(4, cores))", {"metavar": "N"}),
    ("--command", "command", "shell command run by bash -c in each worktree", {"metavar": "CMD"}),
    (
        "--timeout",
        "timeout",
        "per-attempt time limit, e.g. 90s, 30m, 1h30m; the run's whole process group is stopped",
        {"metavar": "DUR"},
    ),
    (
        "--grace",
        "grace",
        "time between SIGTERM and SIGKILL when stopping a run (default 10s)",
        {"metavar": "DUR"},
    ),
    (
        "--retries",
        "retries",
        "new attempts for a run that failed, timed out or was abandoned (not for cancelled); default 0",
        {"metavar": "N"},
    ),
    ("--retry-delay", "retry_delay", "wait before each retry (default 0)", {"metavar": "DUR"}),
    ("--redo", "redo", "run again runs whose latest attempt succeeded (default: skip them)", _FLAG),
    ("--only-failed", "only_failed", "run only runs whose latest attempt did not succeed", _FLAG),
    (
        "--max-batch-time",
        "max_batch_time",
        "budget for the whole batch: when reached, nothing new starts and running runs are cancelled",
        {"metavar": "DUR"},
    ),
    (
        "--test-command",
        "test_command",
        "after the command, run this test command at the base commit (once, before any run starts; "
        "cached) and in the run's worktree; pytest writes its JUnit report by itself (through "
        "PYTEST_ADDOPTS), other runners write JUnit XML to $PARALLEL_RUNS_JUNIT ({junit}) or use "
        "--test-report",
        {"metavar": "CMD"},
    ),
    (
        "--test-report",
        "test_report",
        "JUnit XML files the test command writes itself, a glob relative to the worktree, e.g. "
        "'build/test-results/**/*.xml'; repeatable",
        _APPEND | {"metavar": "GLOB"},
    ),
    (
        "--allow-empty-baseline",
        "allow_empty_baseline",
        "accept an empty suite: start the batch when the test command, at the base commit, collects or "
        "passes no test. It never turns a failing test phase into a pass",
        _FLAG,
    ),
    ("--test-timeout", "test_timeout", "time limit of each test phase", {"metavar": "DUR"}),
    (
        "--test-retries",
        "test_retries",
        "reruns of newly failing tests to tell flaky from persistent (default 1)",
        {"metavar": "N"},
    ),
    (
        "--fail-on-regression",
        "fail_on_regression",
        "a run whose command exited 0 but broke tests ends `regressed` (default on with --test-command)",
        {"action": argparse.BooleanOptionalAction, "default": None},
    ),
    (
        "--setup-command",
        "setup_command",
        "run in each fresh worktree before the command and before the baseline's tests (installs, code "
        "generation, cp .env); a failure ends the attempt `failed` (setup_failed)",
        {"metavar": "CMD"},
    ),
    (
        "--copy-ignored",
        "copy_ignored",
        "copy git-ignored files of the checkout matching this pattern (e.g. .env, node_modules/.cache) into "
        "each worktree, reflinked where possible; repeatable",
        _APPEND | {"metavar": "PATTERN"},
    ),
    (
        "--halt-on-failure",
        "halt_on_failure",
        "after N runs did not succeed, start nothing new (running runs finish; the rest are not_started)",
        {"metavar": "N"},
    ),
    (
        "--dry-run",
        "dry_run",
        "say which runs would start, be skipped or redone, and why; change nothing",
        _FLAG,
    ),
    (
        "--keep-worktrees",
        "keep_worktrees",
        "keep each worktree after its run (changes are committed either way)",
        _FLAG,
    ),
    ("--base-ref", "base_ref", "commit every run starts from (default HEAD)", {"metavar": "REF"}),
    (
        ("--batch", "--batch-id"),
        "batch_id",
        "name of this batch (default gh-<run>-<attempt> in Actions, else a UTC timestamp)",
        {"metavar": "ID", "dest": "batch_id"},
    ),
)
# One of these two names the store.
STORE_OPTIONS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    (
        "--per-run-sqlite",
        "per_run_sqlite",
        "record each run in its own SQLite file <runs dir>/<slug>/<slug>.db (the default)",
        _FLAG,
    ),
    (
        "--database-url",
        "database_url",
        "record into this store instead: a shared PostgreSQL store (postgresql://...: the batch is "
        "enqueued there and any number of `worker`s on other machines may help), or sqlite:///FILE "
        "with --workers 1",
        {"metavar": "URL"},
    ),
)
