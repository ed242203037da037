"""Issue #19: the option table (config/options.py) is the one description of each batch option.

The CLI's parsers, the environment variables, the action's inputs (action.yml) and the reusable
workflow's inputs (.github/workflows/parallel-runs.yml) must all say what the table says: a test
here fails when one of them lists an option the table does not, or misses one the table lists.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from parallel_runs.cli import build_parser
from parallel_runs.config.flags import ENV
from parallel_runs.config.options import KINDS, OPTIONS, options_of
from parallel_runs.core.batch import BatchDefinition, BatchRequest
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.suite import TestSpec
from parallel_runs.github.action.settings import ACTION_ENV, ACTION_INPUTS

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("run", "plan", "worker")
# Options every command that touches a repository has (cli/common.py add_location_options).
LOCATION = {"runs_dir", "source_repo"}
# The action's inputs that are neither batch options nor its own steps' switches.
ACTION_SETUP_INPUTS = {"python-version": None, "runs-dir": "PARALLEL_RUNS_RUNS_DIR"}
# The reusable workflow's own inputs: its jobs' shape, and the action's own switches.
WORKFLOW_OWN = {
    "max-parallel",
    "ref",
    "runs-on",
    "python-version",
    "timeout-minutes",
    *ACTION_INPUTS.values(),
}
# What an agent needs (issue #20 item 2), given to the run legs as the workflow's inputs of the same name.
AGENT_INPUTS = ("env", "run-secrets", "setup")


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found: argparse.ArgumentParser = commands.choices[command]
    return found


def parsed_options(command: str) -> dict[str, tuple[str, ...]]:
    """dest -> option strings of every option the command's parser has (help aside)."""
    return {
        a.dest: tuple(a.option_strings)
        for a in subparser(command)._actions
        if a.option_strings and a.dest != "help"
    }


def sh(text: str) -> CommandSpec:
    return CommandSpec(shell=text)


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("command", COMMANDS)
def test_the_parser_has_exactly_the_tables_options(command: str) -> None:
    parsed = parsed_options(command)
    table = {opt.key: opt.flags for opt in options_of(command)}
    # A switch also has its --no- form.
    missing = {key: flags for key, flags in table.items() if not set(flags) <= set(parsed.get(key, ()))}
    assert not missing, f"in the table, not in `{command}`'s parser (or spelled otherwise): {missing}"
    extra = set(parsed) - set(table) - LOCATION
    assert not extra, f"`{command}` parses options the table does not list: {sorted(extra)}"


def test_each_option_is_well_formed_and_names_its_variable() -> None:
    keys = [opt.key for opt in OPTIONS]
    assert len(keys) == len(set(keys))
    request_fields = {f.name for f in fields(BatchRequest)}
    for opt in OPTIONS:
        assert opt.kind in KINDS, opt.key
        assert opt.commands, opt.key
        assert set(opt.commands) <= set(COMMANDS), opt.key
        assert ENV[opt.key] == opt.env, opt.key
        assert opt.field is None or opt.field in request_fields, opt.key
        assert opt.workflow in ("", "input", "secret"), opt.key
        assert not opt.workflow or opt.input, f"{opt.key}: a workflow input is passed to an action input"


def test_action_yml_has_exactly_the_tables_inputs_and_hands_each_to_its_variable() -> None:
    action = load(ROOT / "action.yml")
    inputs = set(action["inputs"])
    table = {opt.input: opt.env for opt in OPTIONS if opt.input}
    own = {name: ACTION_ENV[key] for key, name in ACTION_INPUTS.items()}
    assert not set(table) - inputs, f"in the table, not in action.yml: {sorted(set(table) - inputs)}"
    extra = inputs - set(table) - set(own) - set(ACTION_SETUP_INPUTS)
    assert not extra, f"action.yml has inputs the table does not list: {sorted(extra)}"
    expected = {
        variable: "${{ inputs.%s }}" % name  # noqa: UP031 - the braces are the workflow's
        for name, variable in (table | own | ACTION_SETUP_INPUTS).items()
        if variable is not None
    }
    steps = {step.get("id"): step for step in action["runs"]["steps"]}
    for step_id in ("prepare", "main"):
        want = dict(expected)
        if step_id == "main":  # the batch id prepare settled on (its default is made there)
            want["PARALLEL_RUNS_BATCH_ID"] = "${{ steps.prepare.outputs.batch-id }}"
        handed = {name: steps[step_id]["env"].get(name) for name in want}
        assert handed == want, f"step {step_id}: {sorted(set(want.items()) - set(handed.items()))}"


def test_the_reusable_workflow_has_exactly_the_inputs_the_table_marks_and_passes_them_on() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "parallel-runs.yml")
    call = workflow[True]["workflow_call"]  # YAML 1.1 reads the key `on` as True
    inputs, secrets = set(call["inputs"]), set(call.get("secrets") or {})
    marked = {kind: {opt.input for opt in OPTIONS if opt.workflow == kind} for kind in ("input", "secret")}
    assert marked["input"] <= inputs, f"missing inputs: {sorted(marked['input'] - inputs)}"
    assert marked["secret"] <= secrets, f"missing secrets: {sorted(marked['secret'] - secrets)}"
    extra = inputs - marked["input"] - WORKFLOW_OWN
    assert not extra, f"the workflow has inputs the table does not mark: {sorted(extra)}"
    passed = {
        (name, value)
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("autopack/parallel-runs@")
        for name, value in step.get("with", {}).items()
    }
    for kind, names in (("inputs", marked["input"]), ("secrets", marked["secret"])):
        for name in names:
            assert (name, "${{ %s.%s }}" % (kind, name)) in passed, f"no job passes {name}"  # noqa: UP031


def test_the_request_carries_every_field_the_definition_shares_with_it() -> None:
    request = BatchRequest(
        batch_id="b",
        run_ids=("a",),
        command=sh("true"),
        timeout=5.0,
        grace=2.0,
        retries=3,
        retry_delay=1.0,
        redo=True,
        only_failed=True,
        tests=TestSpec(command=sh("pytest")),
        fail_on_regression=False,
        setup=sh("make"),
        copy_ignored=(".env",),
        halt_on_failure=2,
    )
    definition = request.definition(base_sha="abc")
    shared = {f.name for f in fields(BatchDefinition)} & {f.name for f in fields(BatchRequest)}
    assert shared >= {"timeout", "halt_on_failure", "copy_ignored", "setup", "tests", "retry_delay"}
    assert {name: getattr(definition, name) for name in shared} == {
        name: getattr(request, name) for name in shared
    }
    assert (definition.base_sha, definition.deadline) == ("abc", None)


def test_the_reusable_workflow_gives_the_legs_what_an_agent_needs() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "parallel-runs.yml")
    inputs = workflow[True]["workflow_call"]["inputs"]
    assert {*AGENT_INPUTS, "timeout-minutes"} <= set(inputs)
    leg = workflow["jobs"]["run"]
    assert leg["timeout-minutes"] == "${{ inputs.timeout-minutes }}"
    [step] = [s for s in leg["steps"] if str(s.get("uses", "")).startswith("autopack/parallel-runs@")]
    for name in AGENT_INPUTS:
        assert step["with"][name] == "${{ inputs.%s }}" % name, name  # noqa: UP031
    assert step["with"]["secrets"] == "${{ toJSON(secrets) }}"  # run-secrets picks the named ones
    others = [job for name, job in workflow["jobs"].items() if name != "run"]
    assert not any("secrets" in s.get("with", {}) for job in others for s in job["steps"])
