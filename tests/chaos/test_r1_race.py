"""R1: 20 processes start the same run id at one instant (a barrier), in file and PostgreSQL mode.

Each racer is a forked process that calls the CLI's `main` the moment the barrier opens. The
command appends to a ledger, then waits for a release file: in file mode it is released once the
other 19 have exited (each must exit 75 naming the holder), so no loser can come after the winner.
In PostgreSQL mode the exclusion is the database's claim: a loser never reaches the run's lock; it
waits for the holder's lease and exits 0 (same batch: "on other workers"; its own batch: "already
succeeded"), so there the release comes once every racer has tried to claim.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.chaos.conftest import Figures, count
from tests.chaos.support import executions

pytestmark = pytest.mark.chaos

RACERS = 20
CLAIM_SETTLE_SECONDS = 1.5  # PostgreSQL mode: every racer has tried a claim by then (one idle poll)


def _racer(argv: list[str], cwd: Path, out: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    """One racing process: wait at the barrier, then be `parallel-runs ARGV`; exit with its code."""
    os.chdir(cwd)
    stream = out.open("w")
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream
    logging.getLogger().handlers.clear()  # the CLI configures logging as it would in its own process
    barrier.wait(timeout=60)
    code = main(argv)
    stream.flush()
    os._exit(code)


def _race(
    argvs: list[list[str]], *, cwd: Path, outs: Path, release: Path, ready: Callable[[list[int]], bool]
) -> tuple[list[int], list[str]]:
    """Start the racers at one instant; release the winner once `ready(exited codes)`; codes, outputs."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(argvs))
    racers = [
        context.Process(target=_racer, args=(argv, cwd, outs / f"{n}.out", barrier))
        for n, argv in enumerate(argvs)
    ]
    for racer in racers:
        racer.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not ready(
            [r.exitcode for r in racers if r.exitcode is not None]
        ):
            wait([r.sentinel for r in racers if r.exitcode is None], timeout=0.05)
    finally:
        release.touch()
        for racer in racers:
            racer.join(timeout=120)
            if racer.exitcode is None:
                racer.kill()
                racer.join()
    codes = [r.exitcode if r.exitcode is not None else -1 for r in racers]
    return codes, [(outs / f"{n}.out").read_text() for n in range(len(argvs))]


def _command(run_id: str, ledger: Path, release: Path) -> str:
    # $PPID is the run's shim; its parent (field 4 of its /proc stat) is the supervisor holding the run.
    holder = "$(cut -d' ' -f4 /proc/$PPID/stat)"
    return f'echo "{run_id} {holder}" >> {ledger}; while [ ! -e {release} ]; do sleep 0.02; done'


def _winner_pid(ledger: Path, run_id: str) -> int | None:
    pids = [line.split()[1] for line in ledger.read_text().splitlines() if line.split()[0] == run_id]
    return int(pids[0]) if pids else None


@pytest.mark.scenario("R1 race, file mode")
@pytest.mark.timeout(3600)
def test_r1_twenty_processes_race_for_one_run_in_file_mode(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    trials = count(full=100, quick=3)
    ledger, doubles, named, losers = tmp_path / "ledger", 0, 0, 0
    bad: list[str] = []
    for trial in range(trials):
        run_id, outs, release = f"race-{trial:03d}", tmp_path / f"t{trial}", tmp_path / f"release-{trial}"
        outs.mkdir()
        argv = ["run", "--run-ids", run_id, "--workers", "1", "--command", _command(run_id, ledger, release)]
        codes, said = _race(
            [argv] * RACERS, cwd=repo, outs=outs, release=release, ready=lambda done: len(done) >= RACERS - 1
        )
        doubles += max(0, executions(ledger)[run_id] - 1)
        winner = _winner_pid(ledger, run_id)
        for code, output in zip(codes, said, strict=True):
            if code == 0 and f"succeeded {run_id}" in output:
                continue
            losers += 1
            if (
                code == 75
                and f"pid {winner}" in output
                and socket.gethostname() in output
                and "since" in output
            ):
                named += 1
            else:
                bad.append(f"trial {trial}: exit {code}: {output.strip()[-300:]}")
        figures.trials, figures.double_executions = trial + 1, doubles
        figures.faults = f"{(trial + 1) * RACERS} processes released at one instant"
        figures.notes = f"{named}/{losers} losers exited 75 naming the holder"
        if doubles or bad:
            break  # a fault is shown: the next trials would only repeat it
    assert doubles == 0, f"{doubles} double executions"
    assert not bad, f"{len(bad)} losers did not exit 75 naming the holder: {bad[:3]}"
    assert losers == trials * (RACERS - 1), f"{losers} losers in {trials} races of {RACERS}"


@pytest.mark.scenario("R1 race, PostgreSQL mode")
@pytest.mark.timeout(3600)
def test_r1_twenty_processes_race_for_one_run_in_postgres_mode(
    repo: Path, tmp_path: Path, database_url: str, figures: Figures
) -> None:
    trials = count(full=100, quick=3)
    ledger, doubles, waited = tmp_path / "ledger", 0, 0
    bad: list[str] = []
    for trial in range(trials):
        run_id, outs, release = (
            f"pg-race-{secrets.token_hex(4)}",
            tmp_path / f"t{trial}",
            tmp_path / f"rel-{trial}",
        )
        outs.mkdir()
        same_batch = trial % 2 == 0  # odd trials: each racer enqueues the run in a batch of its own
        batch = f"race-{secrets.token_hex(4)}"
        argvs = [
            [
                *("run", "--database-url", database_url, "--workers", "1", "--run-ids", run_id),
                *("--batch-id", batch if same_batch else f"{batch}-{n}"),
                *("--command", _command(run_id, ledger, release)),
            ]
            for n in range(RACERS)
        ]
        started: list[float] = []

        def ready(done: list[int], run_id: str = run_id, started: list[float] = started) -> bool:
            if not started and executions(ledger)[run_id]:
                started.append(time.monotonic())
            return bool(done) or bool(started and time.monotonic() - started[0] > CLAIM_SETTLE_SECONDS)

        codes, said = _race(argvs, cwd=repo, outs=outs, release=release, ready=ready)
        doubles += max(0, executions(ledger)[run_id] - 1)
        loser_says = "on other workers" if same_batch else "already succeeded"
        for code, output in zip(codes, said, strict=True):
            if code == 0 and f"succeeded {run_id}" in output:
                continue
            if code == 0 and loser_says in output:
                waited += 1
            else:
                bad.append(f"trial {trial}: exit {code}: {output.strip()[-300:]}")
        figures.trials, figures.double_executions = trial + 1, doubles
        figures.faults = f"{(trial + 1) * RACERS} processes released at one instant"
        figures.notes = f"{waited}/{(trial + 1) * (RACERS - 1)} losers waited for the holder and exited 0"
        if doubles or bad:
            break
    assert doubles == 0, f"{doubles} double executions"
    assert not bad, f"{len(bad)} racers neither won nor waited for the winner: {bad[:3]}"
    assert waited == trials * (RACERS - 1)
