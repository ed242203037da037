"""R9 (issue #16 item 2): a `run` on one clone and a `worker` on another, three threads each, TTL 5 s;
the database is down for 14-25 s while long runs are running and short runs are finishing.

Never two executions of a run at once (each holder's shim kills its command before its lease can
lapse), and a run whose execution ended is never started again: its result, spooled during the
outage, is replayed within the TTL the lease gets after the restart. The database is a private
cluster (tests/integration/postgres/private_server.py): the shared one is never stopped.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import Figures, count
from tests.chaos.ledger import overlaps, ran_again, spans
from tests.chaos.support import Victim, clone, wait_until
from tests.integration.postgres.private_server import PrivateServer, private_server

pytestmark = pytest.mark.chaos

TTL = 5.0
LEDGER = Path(__file__).with_name("ledger.py")
OUTAGES = (14.0, 20.0, 25.0)
LONG, SHORT = 4, 6  # per trial; claimed in this order, so the short runs end during the outage


def _trial(lane: tuple[Path, Path], tmp: Path, server: PrivateServer, *, trial: int) -> list[str]:
    tag = secrets.token_hex(3)
    ledger, batch = tmp / f"ledger-{trial}", f"outage-{tag}"
    ids = [f"long-{n}-{tag}" for n in range(LONG)] + [f"short-{n}-{tag}" for n in range(SHORT)]
    seconds = f'case "$PARALLEL_RUNS_RUN_ID" in long-*) s={3 * TTL};; *) s=2;; esac'
    command = f"{seconds}; exec python3 {LEDGER} {ledger} $s"
    args = ("--database-url", server.url, "--lease-ttl", f"{TTL:g}s", "--workers", "3")
    first = Victim(
        "run", *args, "--batch-id", batch, "--run-ids", ",".join(ids), "--command", command,
        cwd=lane[0], tmp=tmp, name=f"run{trial}",
    )  # fmt: skip
    wait_until(lambda: len(spans(ledger)) >= 1, timeout=60)
    second = Victim("worker", *args, "--batch", batch, cwd=lane[1], tmp=tmp, name=f"worker{trial}")
    started = wait_until(lambda: len(spans(ledger)) >= LONG + 2, timeout=60)
    time.sleep(1.0)  # the first short runs are about to end: their results meet the outage
    server.stop()
    time.sleep(OUTAGES[trial % len(OUTAGES)])
    server.start()
    codes = [first.finish(timeout=600), second.finish(timeout=600)]
    wrong = [] if started else ["the trial missed its moment: too few runs started before the outage"]
    wrong += [f"exit {code}: {said[-300:]}" for code, said in codes if code not in (0, 1)]
    wrong += [f"double execution: {pair}" for pair in overlaps(ledger)]
    wrong += [f"ran again after it had ended: {run}" for run in ran_again(ledger)]
    ended = {label.split("/")[0] for label, (_, _, done) in spans(ledger).items() if done}
    return wrong + [f"never ran to its end: {run}" for run in ids if run not in ended]


@pytest.mark.scenario("R9 outage")
@pytest.mark.timeout(3600)
def test_r9_an_outage_longer_than_the_ttl_runs_nothing_twice_at_once(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    trials, problems = count(full=3, quick=1), list[str]()
    lane = (clone(repo, tmp_path / "one"), clone(repo, tmp_path / "two"))
    with private_server() as server:
        for trial in range(trials):
            problems += [
                f"trial {trial}: {problem}" for problem in _trial(lane, tmp_path, server, trial=trial)
            ]
            figures.trials = trial + 1
            figures.faults = f"{trial + 1} outages of " + ", ".join(f"{o:g}s" for o in OUTAGES[: trial + 1])
            figures.double_executions = sum("double execution" in p for p in problems)
            figures.notes = f"{sum('ran again' in p for p in problems)} ended runs started again"
            if problems:
                break
    assert not problems, problems[:5]
