"""R8 (issue #16 items 1 and 3): a holder frozen (SIGSTOP) past its lease, during its command or
during its setup, while a worker of another batch on another clone takes the run over; resumed
while the taker's command runs. Never two executions of the run at once, and the frozen holder's
result is refused.

Each execution notes in a ledger when it started and that it is alive every 20 ms (ledger.py); two
whose spans overlap are a double execution. The frozen holder's command must be killed by its
shim before the lease could lapse (the supervisor is frozen and cannot), and one frozen during its
setup must not start its command on resume.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from parallel_runs.core.layout import RunPaths
from tests.chaos.conftest import Figures, count
from tests.chaos.ledger import overlaps
from tests.chaos.support import Victim, clone, wait_until

pytestmark = pytest.mark.chaos

TTL = 5.0  # the shortest the CLI allows
LEDGER = Path(__file__).with_name("ledger.py")
PHASES = ("command", "setup")


def _started(ledger: Path, batch: str) -> bool:
    return ledger.exists() and any(f"/{batch}/" in line for line in ledger.read_text().splitlines())


def _trial(repo_a: Path, repo_b: Path, tmp: Path, trial: int, url: str) -> tuple[str, list[str]]:
    phase, tag = PHASES[trial % len(PHASES)], secrets.token_hex(3)
    run_id, ledger, setup_mark = f"lapsed-{trial:03d}-{tag}", tmp / f"ledger-{trial}", tmp / f"setup-{trial}"
    command = f"{sys.executable} {LEDGER} {ledger} {2.5 * TTL}"
    args = ("--database-url", url, "--lease-ttl", f"{TTL:g}s", "--workers", "1", "--run-ids", run_id)
    setup = ("--setup-command", f"touch {setup_mark}; sleep 0.5") if phase == "setup" else ()
    holder = Victim(
        "run", *args, "--batch-id", f"a-{tag}", *setup, "--command", command,
        cwd=repo_a, tmp=tmp, name=f"a{trial}",
    )  # fmt: skip
    moment = setup_mark.exists if phase == "setup" else lambda: _started(ledger, f"a-{tag}")
    landed = wait_until(moment, timeout=60)
    holder.signal(signal.SIGSTOP)  # the supervisor and its git; the shim has a session of its own
    taker = Victim(
        "run", *args, "--batch-id", f"b-{tag}", "--command", command, cwd=repo_b, tmp=tmp, name=f"b{trial}"
    )
    took = wait_until(lambda: _started(ledger, f"b-{tag}"), timeout=60, step=0.02)
    holder.signal(signal.SIGCONT)  # while the taker's command runs
    taker_code, taker_said = taker.finish(timeout=120)
    holder.finish(timeout=120)
    wrong = [] if landed and took else [f"the trial missed its moment (landed {landed}, took {took})"]
    wrong += [] if taker_code == 0 else [f"the taker exited {taker_code}: {taker_said[-300:]}"]
    wrong += [f"double execution: {pair}" for pair in overlaps(ledger)]
    result = RunPaths(repo_a / ".autonomous_runs", run_id).result_json
    if result.exists() and "superseded" not in json.loads(result.read_text()):
        wrong.append(f"the frozen holder's result was not refused: {result.read_text()[:300]}")
    return phase, wrong


@pytest.mark.scenario("R8 lapsed holder")
@pytest.mark.timeout(3600)
def test_r8_a_holder_frozen_past_its_lease_never_runs_alongside_the_taker(
    repo: Path, tmp_path: Path, database_url: str, figures: Figures
) -> None:
    trials, phases, problems = count(full=20, quick=4), Counter[str](), list[str]()
    repo_a, repo_b = clone(repo, tmp_path / "a"), clone(repo, tmp_path / "b")
    for trial in range(trials):
        phase, wrong = _trial(repo_a, repo_b, tmp_path, trial, database_url)
        phases[phase] += 1
        problems += [f"trial {trial} ({phase}): {problem}" for problem in wrong]
        figures.trials = trial + 1
        figures.double_executions = sum("double execution" in p for p in problems)
        figures.faults = ", ".join(f"{n} frozen during the {phase}" for phase, n in sorted(phases.items()))
        figures.notes = f"{sum('not refused' in p for p in problems)} stale results recorded"
        if problems:
            break
    assert not problems, problems[:5]
