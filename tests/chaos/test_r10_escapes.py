"""R10 (issue #16 item 10): runs whose commands leave processes behind in every way the attack found
(`env -i`, `setsid`, `nohup`, `cd /`, `exec -c`, `trap "" TERM`, `unshare --fork --pid`, a Python
double fork with `os.setsid()`), several in one batch. No marker process may outlive the batch, and
each run's result counts what it left behind."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from parallel_runs.core.layout import RunPaths
from tests.chaos.conftest import Figures, count
from tests.helpers import processes_with, run_cli
from tests.integration.test_containment import ESCAPES

pytestmark = pytest.mark.chaos


def _survivors(marker: str) -> list[int]:
    found = processes_with(f"sleep {marker}") + processes_with(f"sleep({marker})")
    for pid in found:  # not left for the next scenario
        os.kill(pid, signal.SIGKILL)
    return found


@pytest.mark.scenario("R10 escapes")
@pytest.mark.timeout(3600)
def test_r10_no_process_a_run_started_outlives_it(repo: Path, figures: Figures) -> None:
    tries, problems, counted = count(full=15, quick=5), list[str](), Counter[str]()
    kinds = sorted(ESCAPES)
    for first in range(0, tries, len(kinds)):
        chosen = {f"try-{n:02d}": kinds[n % len(kinds)] for n in range(first, min(tries, first + len(kinds)))}
        markers = {run_id: f"{900 + n}.{os.getpid()}" for n, run_id in enumerate(chosen)}
        # Each run picks its escape by its id, so one batch holds them all, run side by side.
        cases = " ".join(
            f"{run_id}) {ESCAPES[kind].format(marker=markers[run_id])};;" for run_id, kind in chosen.items()
        )
        command = f'case "$PARALLEL_RUNS_RUN_ID" in {cases} esac; sleep 0.3'
        done = run_cli("run", "--run-ids", ",".join(chosen), "--workers", "3", "--command", command, cwd=repo)
        if done.returncode != 0:
            problems.append(f"exit {done.returncode}: {done.stdout[-300:]} {done.stderr[-300:]}")
        for run_id, kind in chosen.items():
            counted[kind] += 1
            if survivors := _survivors(markers[run_id]):
                problems.append(f"{run_id} ({kind}): {len(survivors)} process(es) outlived the run")
            result = json.loads(RunPaths(repo / ".autonomous_runs", run_id).result_json.read_text())
            if not result.get("stray_processes"):
                problems.append(f"{run_id} ({kind}): recorded {result.get('stray_processes')} strays")
        figures.trials = sum(counted.values())
        figures.faults = ", ".join(f"{n} {kind}" for kind, n in sorted(counted.items()))
        figures.notes = f"{sum('outlived' in p for p in problems)} runs left a survivor"
    assert not problems, problems[:5]
