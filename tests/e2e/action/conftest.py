"""Fixtures of the action's tests: a workflow run in tmp, and clones of the test repository."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.action_flow import Workflow
from tests.helpers import clone as clone_of


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    """One workflow run (its artifacts and runners under tmp)."""
    return Workflow(tmp_path / "workflow")


@pytest.fixture
def clone(repo: Path) -> Callable[[str], Path]:
    """Factory: a clone of the test repository, as actions/checkout would make on a runner."""

    return functools.partial(clone_of, repo)
