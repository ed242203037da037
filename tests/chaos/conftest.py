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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from tests.integration.postgres.conftest import database_url

__all__ = ["Figures", "count", "database_url"]

_PROPERTY = "chaos_figures"


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
    """The scenario's figures: filled by the test, reported and kept even when the test fails."""
    name = request.node.get_closest_marker("scenario")
    found = Figures(scenario=name.args[0] if name else request.node.name)
    began = time.monotonic()
    yield found
    found.seconds = time.monotonic() - began
    # Carried by the teardown report, which reaches the controlling process under xdist too.
    request.node.user_properties.append((_PROPERTY, asdict(found)))


class _Figures:
    """Where the figures arrive: the one process that prints, with or without xdist."""

    def __init__(self, config: pytest.Config) -> None:
        self.config, self.seen = config, list[Figures]()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties if report.when == "teardown" else ():
            if key == _PROPERTY:
                self.arrived(Figures(**value))

    def arrived(self, found: Figures) -> None:
        self.seen.append(found)
        if (reporter := self.config.pluginmanager.get_plugin("terminalreporter")) is not None:
            reporter.write_line(f"\n[chaos] {found.line()}")  # as the scenario ends, not only in the table
        if target := os.environ.get("CHAOS_RESULTS"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with Path(target).open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(found)) + "\n")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = self.seen
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


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Figures(config), "chaos-figures")


# The scenarios that spend most of their time waiting out frozen leases, outages and takeovers:
# each starts at once on its own xdist worker (`--dist load` hands out pairs of consecutive tests,
# so they alternate with the others), and the side-by-side pass lasts about as long as the longest.
_WAITING = ("R8", "R9", "R2 kills, PostgreSQL", "R3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def scenario(item: pytest.Item) -> str:
        marker = item.get_closest_marker("scenario")
        return str(marker.args[0]) if marker else ""

    waiting = [item for prefix in _WAITING for item in items if scenario(item).startswith(prefix)]
    others = [item for item in items if item not in waiting]
    items[:] = [item for pair in zip(waiting, others, strict=False) for item in pair]
    items += others[len(waiting) :] + waiting[len(others) :]
