"""docs/CONTRACTS.md stays true: what users rely on, read from the code, is written there.

Each check takes the real thing (the parser, the ENV table, the exit codes, the environment a run
gets, the runs-dir paths, action.yml) and looks for each of its names in its section, so a new
command, flag, variable, path or input without its line in the contracts fails here.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from parallel_runs import errors
from parallel_runs.cli import build_parser
from parallel_runs.cli.common import command_paths
from parallel_runs.config.flags import ENV
from parallel_runs.core.command import RunContext, build_environment
from parallel_runs.core.layout import RunPaths, git_state_dir, lease_path_for, refusal_path
from parallel_runs.gate.phases import BASELINES_DIR

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (ROOT / "docs" / "CONTRACTS.md").read_text()


def section(number: int) -> str:
    """The text of `## N.` up to the next section."""
    match = re.search(rf"^## {number}\. .*?(?=^## \d+\. |\Z)", CONTRACTS, re.S | re.M)
    assert match is not None, f"no section {number}"
    return match.group(0)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser by its path (`run`, `worktrees list`, ...)."""
    top, found = build_parser(), {}
    for path in command_paths(top):
        parser = top
        for name in path:
            parser = _subparsers(parser)[name]
        found[" ".join(path)] = parser
    return found


def test_every_command_is_in_the_cli_section() -> None:
    cli = section(6)
    missing = [path for path in _commands() if not re.search(rf"`{re.escape(path)}[` ]", cli)]
    assert missing == []


@pytest.mark.parametrize("path", sorted(_commands()))
def test_every_option_of_a_command_is_in_the_cli_section(path: str) -> None:
    cli = section(6)
    options = {
        flag
        for action in _commands()[path]._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    }
    assert sorted(flag for flag in options if not re.search(rf"`{re.escape(flag)}[` /]", cli)) == []


def test_every_environment_variable_of_an_option_is_in_the_cli_section() -> None:
    cli = section(6)
    prefix = "PARALLEL_RUNS_"
    missing = [
        name
        for name in sorted(set(ENV.values()))
        if f"`{name}`" not in cli and f"`{name.removeprefix(prefix)}`" not in cli
    ]
    assert missing == []


def test_every_exit_code_is_in_the_cli_section() -> None:
    exit_codes = re.search(r"^Exit codes:.*?(?=\n\n)", section(6), re.S | re.M)
    assert exit_codes is not None
    codes = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert sorted(code for code in codes if f"`{code}`" not in exit_codes.group(0)) == []


def test_every_variable_a_run_gets_is_in_what_a_run_gets(tmp_path: Path) -> None:
    context = RunContext(
        run_id="r",
        slug="r",
        batch_id="b",
        attempt=1,
        workspace=tmp_path / "workspaces" / "r",
        artifacts_dir=tmp_path / "r",
        runs_dir=tmp_path,
        base_sha="0" * 40,
        database_url="sqlite:///x.db",
        set_database_url=True,
    )
    given = build_environment({}, context)
    assert given  # the check below reads something
    assert sorted(name for name in given if f"`{name}" not in section(4)) == []


def test_every_place_under_the_runs_dir_is_in_the_layout() -> None:
    runs_dir, paths = Path("/runs"), RunPaths(Path("/runs"), "SLUG")
    places = [
        getattr(paths, name)
        for name in dir(RunPaths)
        if isinstance(getattr(RunPaths, name), property)
        and isinstance(getattr(paths, name), Path)
        and name != "lease"  # a file named by a hash: its directory is below
    ]
    places += [
        lease_path_for(runs_dir, paths.workspace).parent,
        refusal_path(runs_dir, "b").parent,
        git_state_dir(runs_dir),
        runs_dir / BASELINES_DIR,
    ]
    layout = section(3)
    shown = [place.relative_to(runs_dir).as_posix().replace("SLUG", "<slug>") for place in places]
    assert len(shown) > 10
    assert sorted(place for place in shown if place.rsplit("/", 1)[-1] not in layout) == []


@pytest.mark.parametrize("kind", ["inputs", "outputs"])
def test_every_action_input_and_output_is_in_the_action_section(kind: str) -> None:
    names = yaml.safe_load((ROOT / "action.yml").read_text())[kind]
    assert names
    assert sorted(name for name in names if f"`{name}`" not in section(8)) == []
