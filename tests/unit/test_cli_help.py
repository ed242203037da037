"""CONTRACTS §6: every option names its environment variable in --help."""

from __future__ import annotations

import argparse

from parallel_runs.cli import build_parser


def all_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(all_parsers(child))
    return found


def test_every_option_names_its_environment_variable() -> None:
    missing = []
    for prog, parser in all_parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            if "[env: PARALLEL_RUNS_" not in (action.help or ""):
                missing.append(f"{prog} {'/'.join(action.option_strings)}")
    assert missing == []
