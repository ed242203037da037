"""The chaos suite (`make chaos`, issue #13 R1-R7): fixtures, scale, and the table of figures.

Not part of `make test`: every module here is marked `chaos`, which the default run deselects.
CHAOS_SCALE picks the trial counts: `full` (the counts issue #13 names; `make chaos`), `quick`
(a bounded pass of a few minutes; `make chaos-quick`, run by CI), or a fraction of full (`0.2`).
Each scenario records one line of figures; the session ends with the table of them all, also
appended as JSON lines to CHAOS_RESULTS when that names a file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.integration.postgres.conftest import database_url, skip_locally_fail_in_ci
from tests.integration.postgres.helpers import cluster, pg_ctl, wait_for_server

__all__ = ["Figures", "count", "database_url", "restartable_server"]

_RESULTS = pytest.StashKey[list["Figures"]]()


def _scale() -> str:
    return os.environ.get("CHAOS_SCALE", "quick").strip().lower() or "quick"


def count(*, full: int, quick: int) -> int:
    """A trial count at the current CHAOS_SCALE: `full`, `quick`, or that fraction of `full` (≥ quick)."""
    scale = _scale()
    if scale == "full":
        return full
    if scale == "quick":
        return quick
    return max(quick, round(full * float(scale)))


@dataclass(kw_only=True)
class Figures:
    """What one scenario measured: one row of the final table."""

    scenario: str
    trials: int = 0
    faults: str = ""  # what was injected, e.g. "43 kills landed"
    double_executions: int = 0
    lost_changes: int = 0
    notes: str = ""
    seconds: float = 0.0
    scale: str = field(default_factory=_scale)
    break_: str = field(default_factory=lambda: os.environ.get("PARALLEL_RUNS_TEST_BREAK", ""))

    def line(self) -> str:
        """The scenario's one-line summary."""
        parts = [
            f"{self.trials} trials",
            self.faults,
            f"{self.double_executions} double executions",
            f"{self.lost_changes} lost changes",
            self.notes,
            f"{self.seconds:.0f}s",
        ]
        return f"{self.scenario}: " + "; ".join(part for part in parts if part)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """The scenario's figures: filled by the test, printed and kept even when the test fails."""
    name = request.node.get_closest_marker("scenario")
    found = Figures(scenario=name.args[0] if name else request.node.name)
    began = time.monotonic()
    yield found
    found.seconds = time.monotonic() - began
    request.config.stash.setdefault(_RESULTS, []).append(found)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        # Shown as the scenario ends, not only in the final table.
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n[chaos] {found.line()}")
    if target := os.environ.get("CHAOS_RESULTS"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(found)) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(_RESULTS, [])
    if not rows:
        return
    terminalreporter.section(f"chaos figures (CHAOS_SCALE={_scale()})")
    header = ("scenario", "trials", "faults injected", "double exec.", "lost changes", "time", "notes")
    table = [header] + [
        (
            row.scenario,
            str(row.trials),
            row.faults,
            str(row.double_executions),
            str(row.lost_changes),
            f"{row.seconds:.0f}s",
            row.notes,
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        terminalreporter.write_line("  ".join([*cells, line[-1]]))


@pytest.fixture
def restartable_server(database_url: str) -> Iterator[Callable[[str], None]]:
    """`pg_ctl(action)` on the shared local cluster (R3 only: `make test` never stops it); up afterwards."""
    if cluster() is None or make_url(database_url).host not in ("127.0.0.1", "localhost"):
        skip_locally_fail_in_ci("needs a local PostgreSQL cluster managed by pg_ctlcluster")
    try:
        yield pg_ctl
    finally:
        wait_for_server()
