"""`parallel-runs action prepare|main`: the steps of the GitHub Action (action.yml runs them).

Inputs arrive in the environment (see config/action.py). `prepare` masks the secrets and names
the step's files and artifacts; `main` does the mode's work: plan, run (one leg) or report.
"""

from __future__ import annotations

import sys

from parallel_runs.cli.common import EXIT_CODES_HELP, deferred
from parallel_runs.errors import EXIT_OK

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.action import ActionSettings

__all__ = ["cmd_action", "register", "say", "write_outputs"]

DESCRIPTION = (
    "The steps of the GitHub Action (uses: autopack/parallel-runs@v1), run by its action.yml: "
    "`prepare` masks the secrets and names the files and artifacts, `main` plans, runs a leg or reports, "
    "as the input mode says. Every input comes from the environment that action.yml sets from it; see "
    "the README's GitHub Actions section."
)


def register(commands: Any) -> None:
    """Add the `action` command to the subparsers."""
    action = commands.add_parser(
        "action",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
    )
    action.add_argument("step", choices=("prepare", "main"), help="which step of the action to run")
    action.set_defaults(
        handler=cmd_action, build_settings=deferred("parallel_runs.config.action", "build_action_settings")
    )


def say(text: str) -> None:
    """One line of the step's log, flushed at once (the runner interleaves it with the runs' output)."""
    if text:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _mask_secrets(settings: ActionSettings) -> None:
    """`::add-mask::` every secret before anything else is printed."""
    from parallel_runs.core.urls import url_passwords
    from parallel_runs.github.auth import token_secrets
    from parallel_runs.github.commands import add_mask

    url = settings.database_url or ""
    for secret in (*url_passwords(url), url, *token_secrets(settings.token or "")):
        say(add_mask(secret))


def write_outputs(settings: ActionSettings, outputs: dict[str, str]) -> None:
    """The step's outputs: to $GITHUB_OUTPUT in Actions (and shown in a collapsed group), else printed
    as NAME=VALUE lines."""
    from parallel_runs.github.commands import end_group, group
    from parallel_runs.github.files import write_outputs as write_file

    output_file = settings.context.output_file
    if output_file is not None:
        write_file(output_file, outputs)
        say(group("step outputs"))
    for name, value in outputs.items():
        say(f"{name}={value}")
    if output_file is not None:
        say(end_group())


def _prepare(settings: ActionSettings) -> int:
    names = settings.names
    outputs = {
        "batch-id": settings.batch_id,
        "work-dir": str(names.work_dir),
        "artifact-name": names.runs_artifact,
        "artifact-pattern": names.runs_pattern,
        "download-dir": str(names.downloads),
        "download": "true" if settings.mode == "report" and not settings.database_url else "false",
        "report-artifact": names.report_artifact,
        "report-path": str(names.report_html),
        "runs-dir": str(settings.runs_dir or ""),
    }
    names.work_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(settings, outputs)
    return EXIT_OK


def _plan(settings: ActionSettings) -> int:
    from parallel_runs.batch.planning import plan_batch
    from parallel_runs.config import PlanSettings
    from parallel_runs.github.files import append_summary
    from parallel_runs.report.markdown import markdown_heading

    if not isinstance(settings.work, PlanSettings):
        raise TypeError("the plan step needs PlanSettings")
    plan = plan_batch(settings.work)
    write_outputs(settings, plan.outputs())
    how = "worker legs claiming runs from the shared store" if plan.shared else "legs, each running a shard"
    if settings.context.summary_file is not None:
        append_summary(
            settings.context.summary_file,
            markdown_heading(f"parallel-runs plan \u00b7 batch {plan.batch_id}")
            + f"\n\n{plan.run_count} run(s) over {plan.legs} {how}, from `{plan.base_sha[:12]}`.",
        )
    return EXIT_OK


def cmd_action(settings: ActionSettings, console: Console) -> int:
    """Run one step of the action; its exit code fails the step or not."""
    _mask_secrets(settings)
    if settings.step == "prepare":
        return _prepare(settings)
    if settings.mode == "plan":
        return _plan(settings)
    if settings.mode == "run":
        from parallel_runs.cli.action_run import run_leg

        return run_leg(settings, console)
    from parallel_runs.cli.action_report import report_batch

    return report_batch(settings)
