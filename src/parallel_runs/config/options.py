"""The batch options, as ONE table: each option's flags, environment variable, kind (how its text is
parsed), default, help, the commands that take it, and its GitHub Action input.

`run`, `plan` and `worker` build their parsers from it (cli/), the settings read it (config/run.py,
config/worker.py), `action.yml` and the reusable workflow name its inputs (a test compares them:
tests/unit/test_options.py), and the seed's adapter translates into its flags. Free of imports, so
building the parser loads nothing it does not print.
"""

from __future__ import annotations

from parallel_runs.core.defaults import DEFAULT_MAX_JOBS, MAX_JOBS

__all__ = ["KINDS", "OPTIONS", "Option", "option", "options_of"]

# How an option's text is read: text, duration (90s, 1h30m), count (an integer), size (50MiB), url,
# ids (several values, repeatable), list (repeatable), flag (store_true), switch (--x/--no-x).
KINDS = ("text", "duration", "count", "size", "url", "ids", "list", "flag", "switch")
_RUN_PLAN = ("run", "plan")
_RUN_PLAN_WORKER = ("run", "plan", "worker")


class Option:
    """One option of the table (see the module's docstring)."""

    __slots__ = (
        "commands",
        "default",
        "field",
        "flags",
        "help",
        "helps",
        "input",
        "key",
        "kind",
        "metavar",
        "minimum",
        "workflow",
    )

    def __init__(
        self,
        flags: str | tuple[str, ...],
        key: str,
        kind: str,
        help: str,
        *,
        metavar: str | None = None,
        default: str | None = None,
        commands: tuple[str, ...] = _RUN_PLAN,
        helps: dict[str, str] | None = None,
        field: str | None = None,
        minimum: int = 0,
        action: str | None = None,
        workflow: str = "",
    ) -> None:
        self.flags = flags if isinstance(flags, tuple) else (flags,)
        self.key = key  # argparse's dest and the key of ENV
        self.kind = kind  # one of KINDS
        self.help = help
        self.metavar = metavar
        self.default = default  # the value, as text, when neither the flag nor the variable is given
        self.commands = commands
        self.helps = helps or {}  # a command's own help text, where it says something else
        # The BatchRequest field (core/batch.py) its value fills, parsed by its kind; None: a builder
        # reads it on its own (the ids, the test gate, this machine's settings).
        self.field = field
        self.minimum = minimum  # a count's least value
        self.input = action  # its input of action.yml (None: the action has none yet)
        self.workflow = workflow  # "input" or "secret" of the reusable workflow; "": none

    @property
    def env(self) -> str:
        """Its environment variable."""
        return "PARALLEL_RUNS_" + ("WORKER_WAIT" if self.key == "wait" else self.key.upper())

    @property
    def name(self) -> str:
        """Its main flag, as errors name it."""
        return self.flags[0]

    def help_for(self, command: str) -> str:
        """The help text `command` shows."""
        return self.helps.get(command, self.help)


# fmt: off
OPTIONS: tuple[Option, ...] = (
    Option("--run-ids", "run_ids", "ids", action="run-ids", workflow="input",
           help='run ids, separated by commas/whitespace; brace ranges exp-{001..20} and lists x-{a,b} '
                'expand; several values (what an unquoted u{1..3} becomes in a shell) and repeatable'),
    Option("--run-ids-file", "run_ids_file", "list", metavar="FILE", action="run-ids-file", workflow="input",
           help='file with one run id per line (# comments), - for stdin; repeatable'),
    Option("--tasks", "tasks", "text", metavar="FILE", action="tasks-file", workflow="input",
           help='JSON Lines file, one task per run: an object with an `id` (the run id) and any other fields'
                " (title, prompt, ...); each run gets $PARALLEL_RUNS_TASK (its task's JSON file) and "
                '$PARALLEL_RUNS_TASK_<FIELD> for each string or number field; instead of --run-ids'),
    Option("--shard", "shard", "text", metavar="K/N", commands=("run",),
           help='run only shard K of N of the ids (every N-th id from the K-th), as a leg of a `plan` '
                'matrix does'),
    Option("--workers", "workers", "text", metavar="N", commands=_RUN_PLAN_WORKER,
           helps={"worker": "runs executing at once here (default: min(4, cores))"}, action="workers",
           workflow="input",
           help='runs executing at once (default: min(4, cores))'),
    Option("--command", "command", "text", metavar="CMD", action="command", workflow="input",
           help='shell command run by bash -c in each worktree'),
    Option("--timeout", "timeout", "duration", field="timeout", action="timeout", workflow="input",
           help="per-attempt time limit, e.g. 90s, 30m, 1h30m; the run's whole process group is stopped"),
    Option("--grace", "grace", "duration",
           action="grace", workflow="input", default="10s", commands=_RUN_PLAN_WORKER,
           helps={"worker": "time between SIGTERM and SIGKILL when stopping a run"}, field="grace",
           help='time between SIGTERM and SIGKILL when stopping a run (default 10s)'),
    Option("--retries", "retries", "count", default="0", field="retries", action="retries", workflow="input",
           help='new attempts for a run that failed, timed out or was abandoned (not for cancelled); '
                'default 0'),
    Option("--retry-delay", "retry_delay", "duration",
           action="retry-delay", workflow="input", field="retry_delay",
           help='wait before each retry (default 0)'),
    Option("--redo", "redo", "flag", action="redo", workflow="input", field="redo",
           help='run again runs whose latest attempt succeeded (default: skip them)'),
    Option("--only-failed", "only_failed", "flag",
           action="only-failed", workflow="input", field="only_failed",
           help='run only runs whose latest attempt did not succeed'),
    Option("--max-batch-time", "max_batch_time", "duration",
           action="max-batch-time", workflow="input", field="max_batch_time",
           help='budget for the whole batch: when reached, nothing new starts and running runs are '
                'cancelled'),
    Option("--test-command", "test_command", "text", metavar="CMD", action="test-command", workflow="input",
           help='after the command, run this test command at the base commit (once, before any run '
                "starts; cached) and in the run's worktree; pytest writes its JUnit report by itself "
                '(through PYTEST_ADDOPTS), other runners write JUnit XML to $PARALLEL_RUNS_JUNIT '
                '({junit}) or use --test-report'),
    Option("--test-report", "test_report", "list", action="test-report", workflow="input", metavar="GLOB",
           help='JUnit XML files the test command writes itself, a glob relative to the worktree, e.g. '
                "'build/test-results/**/*.xml'; repeatable"),
    Option("--allow-empty-baseline", "allow_empty_baseline", "flag",
           action="allow-empty-baseline", workflow="input",
           help='accept an empty suite: start the batch when the test command, at the base commit, '
                'collects or passes no test. It never turns a failing test phase into a pass'),
    Option("--test-timeout", "test_timeout", "duration",
           action="test-timeout", workflow="input", commands=_RUN_PLAN_WORKER,
           help='time limit of each test phase'),
    Option("--test-retries", "test_retries", "count",
           action="test-retries", workflow="input", default="1", commands=_RUN_PLAN_WORKER,
           helps={"worker": "reruns of newly failing tests (default 1)"},
           help='reruns of newly failing tests to tell flaky from persistent (default 1)'),
    Option("--fail-on-regression", "fail_on_regression", "switch",
           action="fail-on-regression", workflow="input", default="true", commands=_RUN_PLAN_WORKER,
           helps={"worker": "a run that broke tests ends `regressed` (default on)"},
           field="fail_on_regression",
           help='a run whose command exited 0 but broke tests ends `regressed` (default on with '
                '--test-command)'),
    Option("--setup-command", "setup_command", "text",
           action="setup-command", workflow="input", metavar="CMD",
           help="run in each fresh worktree before the command and before the baseline's tests (installs,"
                ' code generation, cp .env); a failure ends the attempt `failed` (setup_failed)'),
    Option("--copy-ignored", "copy_ignored", "list",
           action="copy-ignored", workflow="input", metavar="PATTERN",
           help='copy git-ignored files of the checkout matching this pattern (e.g. .env, '
                'node_modules/.cache) into each worktree, reflinked where possible; repeatable'),
    Option("--halt-on-failure", "halt_on_failure", "count",
           action="halt-on-failure", workflow="input", minimum=1, field="halt_on_failure",
           help='after N runs did not succeed, start nothing new (running runs finish; the rest are '
                'not_started)'),
    Option("--dry-run", "dry_run", "flag",
           help='say which runs would start, be skipped or redone, and why; change nothing'),
    Option("--keep-worktrees", "keep_worktrees", "flag", commands=_RUN_PLAN_WORKER,
           helps={"worker": "keep each worktree after its run"},
           help='keep each worktree after its run (changes are committed either way)'),
    Option("--reuse-worktrees", "reuse_worktrees", "flag", commands=_RUN_PLAN_WORKER,
           action="reuse-worktrees", workflow="input",
           help="each worker keeps one worktree and resets it for its next run (tracked files to the base"
                ' commit, untracked and ignored files removed but --keep-ignored ones) instead of a fresh'
                ' worktree per run; the setup command runs again only when its kept output is gone'),
    Option("--keep-ignored", "keep_ignored", "list", commands=_RUN_PLAN_WORKER, metavar="PATTERNS",
           action="keep-ignored", workflow="input",
           help='with --reuse-worktrees: ignored paths a reset keeps for the next run, gitignore patterns'
                " separated by commas (e.g. node_modules,.venv: what the setup command writes); repeatable"),
    Option("--base-ref", "base_ref", "text", metavar="REF", default="HEAD", field="base_ref",
           action="base-ref",
           help='commit every run starts from (default HEAD)'),
    Option(("--batch", "--batch-id"), "batch_id", "text", metavar="ID", commands=_RUN_PLAN_WORKER,
           helps={"worker": "the batch to work"}, action="batch-id", workflow="input",
           help='name of this batch (default gh-<run>-<attempt> in Actions, else a UTC timestamp)'),
    Option("--per-run-sqlite", "per_run_sqlite", "flag", commands=("run",),
           help='record each run in its own SQLite file <runs dir>/<slug>/<slug>.db (the default)'),
    Option("--database-url", "database_url", "url", commands=_RUN_PLAN_WORKER, action="database-url",
           workflow="secret", helps={"plan": "postgresql:// URL of the shared store to queue the batch in",
                                     "worker": "postgresql:// URL of the shared store"},
           help='record into this store instead: a shared PostgreSQL store (postgresql://...: the batch '
                'is enqueued there and any number of `worker`s on other machines may help), or '
                'sqlite:///FILE with --workers 1'),
    Option(("--quiet", "-q"), "quiet", "flag", commands=("run", "worker"),
           help='print only problems and the final summary'),
    Option("--json-events", "json_events", "flag", commands=("run", "worker"),
           help='print one JSON object per event on stdout instead of text'),
    Option("--pass-env", "pass_env", "list", metavar="NAME[,NAME]", commands=("run", "worker"),
           action="pass-env",
           help='give the runs these variables, which they do not get otherwise: GITHUB_TOKEN, GH_TOKEN, '
                "ACTIONS_*, the runner's GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY and "
                "GITHUB_STATE, and the store's password (PARALLEL_RUNS_DATABASE_URL is given without it);"
                ' repeatable. Their values are still hidden in every report'),
    Option("--lease-ttl", "lease_ttl", "duration",
           action="lease-ttl", workflow="input", commands=("run", "worker"),
           help="how long a claim lives without a heartbeat (renewed every TTL/3); a dead worker's run is"
                ' taken over after it (default 60s)'),
    Option("--max-artifact-size", "max_artifact_size", "size",
           action="max-artifact-size", workflow="input", commands=("run", "worker"),
           help='largest artifact file stored in the database, e.g. 50MiB (default); bigger ones are '
                'recorded as skipped'),
    Option("--wait", "wait", "duration", commands=("worker",),
           help="wait up to DUR for the batch to be enqueued and its database's schema created (start "
                'workers before `plan` or `run`)'),
    Option("--max-jobs", "max_jobs", "text", metavar="N", commands=("plan",), action="max-jobs",
           workflow="input",
           help=f'most legs in the matrix, 1 to {MAX_JOBS} (default {DEFAULT_MAX_JOBS})'),
    Option("--github-output", "github_output", "flag", commands=("plan",),
           help='also write the outputs to $GITHUB_OUTPUT (multi-line safe)'),
)
# fmt: on
_BY_KEY = {opt.key: opt for opt in OPTIONS}


def option(key: str) -> Option:
    """The option whose dest is `key`."""
    return _BY_KEY[key]


def options_of(command: str) -> tuple[Option, ...]:
    """The options `command` (run, plan, worker) takes, in the table's order."""
    return tuple(opt for opt in OPTIONS if command in opt.commands)
