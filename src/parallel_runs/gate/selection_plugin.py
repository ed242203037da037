"""pytest plugin: run only the tests named, one id a line, in the file $PARALLEL_RUNS_SELECT.

Retrying only some tests of a pytest command: positional arguments of an arbitrary command line
cannot be rewritten safely, so this plugin deselects all other tests instead. parallel-runs copies
this file beside the phase's reports as `parallel_runs_select.py` and names it in PYTEST_PLUGINS.
The test command may run in another interpreter or virtualenv, where parallel_runs is not
installed: this module imports nothing but the standard library (pytest only for type checking).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

__all__ = ["SELECT_ENV", "pytest_collection_modifyitems"]

SELECT_ENV = "PARALLEL_RUNS_SELECT"


def _case_id(nodeid: str) -> str:
    # Same as parallel_runs.core.junit.nodeid_to_case_id (pytest's JUnit naming), copied: see above.
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    classname, name = ".".join(names[:-1]).strip(), names[-1].strip()
    return classname + "::" + name if classname else name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the selected tests; run everything when none of the ids is recognised."""
    path = os.environ.get(SELECT_ENV)
    if not path:
        return
    with open(path, encoding="utf-8") as stream:
        wanted = set(stream.read().splitlines())
    keep = [item for item in items if _case_id(item.nodeid) in wanted]
    if not keep:  # no id recognised: run everything rather than nothing
        return
    kept = {id(item) for item in keep}
    config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept])
    items[:] = keep
