"""Settings of the GitHub Action's steps (`parallel-runs action prepare|main`).

`action.yml` hands every input to Python through `env:` (never through `${{ }}` in a script): a
batch option's input sets the option's own variable, as the option table says (config/options.py:
`input`), and the action's own inputs set ACTION_ENV. The engine's Settings are then built from
them exactly as the CLI builds them, so an input means what the flag of the same name means.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from parallel_runs.config.common import (
    default_batch_id,
    env_value,
    is_postgres_url,
    parse_bool,
    parse_count,
    resolve_runs_dir,
    resolve_source_repo,
)
from parallel_runs.config.plan import PlanSettings, build_plan_settings
from parallel_runs.config.report import ReportSettings, build_report_settings
from parallel_runs.config.run import RunSettings, build_run_settings, build_worker_run_settings
from parallel_runs.core.ids import slugify
from parallel_runs.core.shards import Shard
from parallel_runs.core.urls import mask_url
from parallel_runs.errors import ConfigError
from parallel_runs.github.action.run_inputs import RunInputs, read_run_inputs
from parallel_runs.github.context import GithubContext

__all__ = [
    "ACTION_ENV",
    "ACTION_INPUTS",
    "MODES",
    "PULL_REQUESTS",
    "ActionSettings",
    "Names",
    "build_action_settings",
]

MODES = ("plan", "run", "report")
PULL_REQUESTS = ("none", "draft", "ready")  # input pull-requests: none, or open them as drafts or ready
# The action's own inputs, by the environment variable action.yml sets from each.
ACTION_ENV = {
    "mode": "PARALLEL_RUNS_ACTION_MODE",
    "leg": "PARALLEL_RUNS_ACTION_LEG",
    "legs": "PARALLEL_RUNS_ACTION_LEGS",
    "token": "PARALLEL_RUNS_GITHUB_TOKEN",
    "push_branches": "PARALLEL_RUNS_PUSH_BRANCHES",
    "pull_requests": "PARALLEL_RUNS_PULL_REQUESTS",
    "fail_on_unsuccessful": "PARALLEL_RUNS_FAIL_ON_UNSUCCESSFUL",
    "check_name": "PARALLEL_RUNS_CHECK_NAME",
    "env": "PARALLEL_RUNS_ACTION_ENV",
    "run_secrets": "PARALLEL_RUNS_ACTION_RUN_SECRETS",
    "secrets": "PARALLEL_RUNS_ACTION_SECRETS",
    "setup": "PARALLEL_RUNS_ACTION_SETUP",
}
# The action's own inputs by the key of ACTION_ENV (the key, dashed; the token's is github-token);
# the batch options' are in the option table.
ACTION_INPUTS = {key: "github-token" if key == "token" else key.replace("_", "-") for key in ACTION_ENV}


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    """Where a batch's files go on the runner and what its artifacts are called (v4-legal names)."""

    batch_slug: str
    work_dir: Path  # $RUNNER_TEMP/parallel-runs/<batch slug>
    leg: int

    @property
    def runs_artifact(self) -> str:
        """This leg's runs dir artifact."""
        return f"parallel-runs-{self.batch_slug}-leg-{self.leg}"

    @property
    def runs_pattern(self) -> str:
        """Every leg's runs dir artifact (download-artifact's `pattern`)."""
        return f"parallel-runs-{self.batch_slug}-leg-*"

    @property
    def report_artifact(self) -> str:
        """The HTML report's artifact."""
        return f"parallel-runs-{self.batch_slug}-report"

    @property
    def downloads(self) -> Path:
        """Where the report step merges the legs' runs dirs."""
        return self.work_dir / "runs"

    @property
    def report_html(self) -> Path:
        """The HTML report the report step writes."""
        return self.work_dir / "report.html"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSettings:
    """One step of the action: what the runner told it, its inputs, and the engine settings of its mode."""

    step: str  # prepare | main
    mode: str  # plan | run | report
    context: GithubContext
    batch_id: str
    names: Names
    database_url: str | None  # the shared PostgreSQL store, or None (shards, per-run SQLite, artifacts)
    token: str | None = None
    shard: Shard | None = None
    push_branches: bool = False
    pull_requests: str = "none"  # one of PULL_REQUESTS
    fail_on_unsuccessful: bool = True
    check_name: str = "parallel-runs"
    runs_dir: Path | None = None  # run mode: the runs dir the leg uploads
    # env, run-secrets and setup: what every run of a leg gets besides the batch options
    run_inputs: RunInputs = field(default_factory=RunInputs)
    # The mode's engine settings (main step only): one of the three, as the mode says.
    plan: PlanSettings | None = None
    leg: RunSettings | None = None  # without a shared store, run --shard K/N; with one, a worker
    report: ReportSettings | None = None


def _input(environ: Mapping[str, str], key: str) -> str | None:
    value = environ.get(ACTION_ENV[key], "").strip()
    return value or None


def _shard(environ: Mapping[str, str]) -> Shard | None:
    leg, legs = _input(environ, "leg"), _input(environ, "legs")
    if leg is None and legs is None:
        return None
    return Shard(parse_count(leg or "1", flag="leg"), parse_count(legs or "1", flag="legs"))


def _pull_requests(environ: Mapping[str, str], mode: str) -> str:
    """The pull-requests input; a run leg that opens them needs the token."""
    chosen = (_input(environ, "pull_requests") or "none").lower()
    if chosen not in PULL_REQUESTS:
        raise ConfigError(f"input pull-requests {chosen!r} is not one of: {', '.join(PULL_REQUESTS)}")
    if chosen != "none" and mode == "run" and not _input(environ, "token"):
        raise ConfigError(
            f"input pull-requests {chosen}: give github-token (contents and pull-requests write)"
        )
    return chosen


def _engine_environ(environ: Mapping[str, str], batch_id: str, run_inputs: RunInputs) -> dict[str, str]:
    """The environment the engine's settings are built from, and the runs inherit: the step's, without
    the `secrets` input (only run-secrets' picks reach runs), plus env and run-secrets. The token is
    withheld from runs, and known to the redactor, as every token is: core.command.WITHHELD,
    config.secrets."""
    base = {name: value for name, value in environ.items() if name != ACTION_ENV["secrets"]}
    return base | run_inputs.variables() | {"PARALLEL_RUNS_BATCH_ID": batch_id}


def _with_run_secrets(leg: RunSettings, run_inputs: RunInputs) -> RunSettings:
    """The leg's settings with the run-secrets' values among those redacted from all that leaves."""
    machine = replace(leg.machine, secrets=leg.machine.secrets | run_inputs.secret_values)
    return replace(leg, machine=machine)


def _main_step(
    settings: ActionSettings, url: str | None, environ: dict[str, str], cwd: Path
) -> ActionSettings:
    """The main step's settings of its mode, read from the inputs as the CLI reads its flags.

    Only the database-url input names a store: action.yml sets its variable in every step, empty
    without the input, so a store the job's environment names is not used.
    """
    if settings.mode == "plan":
        return replace(settings, plan=build_plan_settings(flags={}, environ=environ, cwd=cwd))
    if settings.mode == "run" and url:
        leg = build_worker_run_settings(flags={}, environ=environ, cwd=cwd)
        return replace(settings, leg=_with_run_secrets(leg, settings.run_inputs))
    if settings.mode == "run":
        leg = build_run_settings(flags={}, environ=environ, cwd=cwd, shard=settings.shard)
        return replace(settings, leg=_with_run_secrets(leg, settings.run_inputs))
    return replace(settings, report=build_report_settings(flags={}, environ=environ, cwd=cwd))


def build_action_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ActionSettings:
    """Read the step's inputs from the environment action.yml set up."""
    step = str(flags.get("step") or "main")
    mode = (_input(environ, "mode") or "").lower()
    if mode not in MODES:
        raise ConfigError(f"input mode {mode!r} is not one of: {', '.join(MODES)}")
    url = env_value(environ, "database_url")
    if url and not is_postgres_url(url):
        raise ConfigError(f"input database-url {mask_url(url)}: the action takes a postgresql:// URL")
    batch_id = env_value(environ, "batch_id") or default_batch_id(environ)
    shard = _shard(environ)
    try:
        slug = slugify(batch_id)
    except ConfigError as exc:  # the rules of run ids, named for what broke them
        raise ConfigError(f"input batch-id: {exc}".replace("run id", "batch id")) from None
    temp = Path(environ.get("RUNNER_TEMP") or tempfile.gettempdir())
    names = Names(batch_slug=slug, work_dir=temp / "parallel-runs" / slug, leg=shard.index if shard else 1)
    run_inputs = read_run_inputs(
        {key: _input(environ, key) for key in ("env", "run_secrets", "secrets", "setup")}, environ
    )
    engine_environ = _engine_environ(environ, batch_id, run_inputs)
    runs_dir = None
    if mode == "run":
        repo = resolve_source_repo(None, engine_environ, cwd)
        runs_dir = resolve_runs_dir(None, engine_environ, cwd=cwd, repo=repo)
    elif mode == "report":  # the legs' artifacts land here; with a store, nothing needs a checkout
        engine_environ["PARALLEL_RUNS_RUNS_DIR"] = str(names.downloads)
    settings = ActionSettings(
        step=step,
        mode=mode,
        context=GithubContext.from_environ(environ),
        batch_id=batch_id,
        names=names,
        database_url=url,
        token=_input(environ, "token"),
        shard=shard,
        push_branches=parse_bool(_input(environ, "push_branches") or "false", name="push-branches"),
        pull_requests=_pull_requests(environ, mode),
        fail_on_unsuccessful=parse_bool(
            _input(environ, "fail_on_unsuccessful") or "true", name="fail-on-unsuccessful"
        ),
        check_name=environ.get(ACTION_ENV["check_name"], "parallel-runs").strip(),
        runs_dir=runs_dir,
        run_inputs=run_inputs,
    )
    return _main_step(settings, url, engine_environ, cwd) if step == "main" else settings
