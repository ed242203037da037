"""R3: PostgreSQL restarted during a batch of 50 runs (3 workers, 5 s leases).

Each trial stops the database server once a few runs have finished, keeps it down for a while, and
starts it again: a plain restart (the store's retries ride it out), and outages longer than every
retry and than the lease TTL (results are spooled, leases expire, and the spool must be replayed
before any claim could take a run over). Every run's command appends to a ledger: no run may
execute twice, and every run must end with one succeeded attempt in the store. The server is a
private cluster (tests/integration/postgres/private_server.py): the shared one serves the other
scenarios meanwhile.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import Figures, count
from tests.chaos.support import executions, query, wait_until
from tests.helpers import start_cli
from tests.integration.postgres.private_server import PrivateServer, private_server

pytestmark = pytest.mark.chaos

OUTAGES = (17.0, 2.0, 25.0)  # seconds down: longer than the store's retries (~16 s for a result), a restart
WORKERS, TTL = 3, 5.0


def _trial(repo: Path, tmp: Path, server: PrivateServer, *, runs: int, outage: float) -> dict[str, int]:
    url = server.url
    batch, ledger = f"restart-{secrets.token_hex(4)}", tmp / f"ledger-{secrets.token_hex(3)}"
    ids = [f"{batch}-{n:02d}" for n in range(runs)]
    command = (
        f'echo "$PARALLEL_RUNS_RUN_ID $PARALLEL_RUNS_ATTEMPT" >> {ledger}; echo $RANDOM > out.txt; sleep 0.5'
    )
    runner = start_cli(
        "run", "--database-url", url, "--batch-id", batch, "--run-ids", ",".join(ids),
        "--workers", str(WORKERS), "--lease-ttl", f"{TTL:g}s", "--command", command, cwd=repo,
    )  # fmt: skip
    wait_until(lambda: sum(executions(ledger).values()) >= 2 * WORKERS, timeout=120, step=0.05)
    server.stop(mode="fast")  # as an administrator's restart does: clients are disconnected
    time.sleep(outage)
    server.start()
    out, err = runner.communicate(timeout=600)
    ran = executions(ledger)
    rows = query(url, "select run_id, attempt, status from attempts where batch_id = :b", b=batch)
    succeeded = {run_id for run_id, _, status in rows if status == "succeeded"}
    return {
        "exit": runner.returncode,
        "runs": runs,
        "double": sum(max(0, n - 1) for n in ran.values()),
        "never_ran": sum(1 for run_id in ids if not ran[run_id]),
        "lost": sum(1 for run_id in ids if ran[run_id] and run_id not in succeeded),
        "extra_attempts": len(rows) - runs,
        "spooled": err.count("spooled to"),
        "unsaved": sum(1 for run_id in ids if not _has(repo, f"parallel-runs/{run_id}:out.txt")),
    } | ({"_err": out[-1000:] + err[-1000:]} if runner.returncode else {})  # type: ignore[dict-item]


def _has(repo: Path, spec: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", spec], cwd=repo, check=False).returncode == 0


@pytest.mark.scenario("R3 PostgreSQL restart")
@pytest.mark.timeout(3600)
def test_r3_a_postgresql_restart_during_a_batch_loses_no_result_and_runs_nothing_twice(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    trials, runs = count(full=3, quick=1), count(full=50, quick=20)
    totals = dict.fromkeys(("runs", "double", "never_ran", "lost", "extra_attempts", "spooled", "unsaved"), 0)
    problems: list[str] = []
    with private_server() as server:
        for trial in range(trials):
            found = _trial(repo, tmp_path, server, runs=runs, outage=OUTAGES[trial % 3])
            if _record(found, trial=trial, runs=runs, totals=totals, problems=problems, figures=figures):
                break
    assert totals["double"] == 0, f"{totals['double']} double executions; {figures.notes}"
    assert totals["lost"] == totals["never_ran"] == totals["unsaved"] == 0, figures.notes
    assert not problems, problems


def _record(
    found: dict[str, int],
    *,
    trial: int,
    runs: int,
    totals: dict[str, int],
    problems: list[str],
    figures: Figures,
) -> bool:
    """Add one trial's figures to the totals; true when it found a problem (no need for more)."""
    for key in totals:
        totals[key] += int(found[key])
    if found["exit"] != 0:
        problems.append(f"trial {trial}: batch exit {found['exit']}: {found.get('_err')}")
    figures.trials, figures.double_executions = trial + 1, totals["double"]
    figures.lost_changes = totals["unsaved"]  # a run whose branch lacks the file it wrote
    outages = ", ".join(f"{OUTAGES[n % 3]:g}s" for n in range(trial + 1))
    figures.faults = f"{trial + 1} restarts during batches of {runs} runs (down {outages})"
    figures.notes = (
        f"{totals['runs']} runs: {totals['lost']} lost results, {totals['never_ran']} never ran, "
        f"{totals['spooled']} results spooled and replayed, {totals['extra_attempts']} extra attempts"
    )
    return bool(problems or totals["double"] or totals["lost"] or totals["never_ran"] or totals["unsaved"])
