"""The action's prepare step (names the step's files and artifacts) and its plan mode."""

from __future__ import annotations

from parallel_runs.errors import EXIT_OK
from parallel_runs.github.action.outputs import set_outputs
from parallel_runs.github.action.settings import ActionSettings
from parallel_runs.github.files import append_summary

__all__ = ["plan", "prepare"]


def prepare(settings: ActionSettings) -> int:
    """The outputs the later steps of action.yml read: the batch, the work dir, the artifacts' names."""
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
    set_outputs(settings, outputs)
    return EXIT_OK


def plan(settings: ActionSettings) -> int:
    """The plan mode: the matrix's legs (the batch queued first with a shared store), and a summary line."""
    from parallel_runs.batch.planning import plan_batch  # the engine, for this mode only
    from parallel_runs.report.markdown import markdown_heading

    if settings.plan is None:
        raise TypeError("the plan step needs PlanSettings")
    planned = plan_batch(settings.plan)
    set_outputs(settings, planned.outputs())
    how = (
        "worker legs claiming runs from the shared store" if planned.shared else "legs, each running a shard"
    )
    if settings.context.summary_file is not None:
        append_summary(
            settings.context.summary_file,
            markdown_heading(f"parallel-runs plan \u00b7 batch {planned.batch_id}")
            + f"\n\n{planned.run_count} run(s) over {planned.legs} {how}, from `{planned.base_sha[:12]}`.",
        )
    return EXIT_OK
