"""The batch options of `run`, `plan` and `worker`, added to a parser from their one table
(config/options.py): this module only says how each kind of option is spelled for argparse."""

from __future__ import annotations

import argparse

from parallel_runs.config.options import Option, options_of

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_batch_options"]

_STORE = ("per_run_sqlite", "database_url")  # in `run`, one of the two names the store
_METAVARS = {"duration": "DUR", "count": "N", "size": "SIZE", "url": "URL", "ids": "IDS"}


def _spelling(opt: Option) -> dict[str, Any]:
    """argparse's arguments for an option of this kind."""
    metavar = opt.metavar or _METAVARS.get(opt.kind)
    if opt.kind == "flag":
        return {"action": "store_true", "default": None}
    if opt.kind == "switch":
        return {"action": argparse.BooleanOptionalAction, "default": None}
    if opt.kind == "ids":
        return {"action": "extend", "nargs": "+", "metavar": metavar}
    if opt.kind == "list":
        return {"action": "append", "metavar": metavar}
    return {"metavar": metavar}


def add_batch_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Every option of the table that `command` takes, each with its environment variable in its help."""
    store = parser.add_mutually_exclusive_group() if command == "run" else None
    for opt in options_of(command):
        target = store if store is not None and opt.key in _STORE else parser
        help_text = f"{opt.help_for(command)} [env: {opt.env}]"
        target.add_argument(*opt.flags, dest=opt.key, help=help_text, **_spelling(opt))
