"""Issue #16 item 3 in the engine: the claim is checked after setup, right before the command starts,
and each renewal feeds the command's deadline; a private store has no lease and no deadline."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from parallel_runs.batch import RunError
from parallel_runs.core.command import CommandSpec
from parallel_runs.process import Deadline
from parallel_runs.store import BatchDefinition, LeaseKeeper, LeaseOwner, MemoryStore
from parallel_runs.store.heartbeat import KILL_MARGIN
from tests.helpers import wait_for
from tests.integration.test_engine import run, settings_for


def test_a_run_taken_over_during_its_setup_never_starts_its_command(repo: Path, tmp_path: Path) -> None:
    store = MemoryStore(shares_queue=True)
    started, go, ran = tmp_path / "setup-started", tmp_path / "go", tmp_path / "ran"
    setup = CommandSpec(shell=f"touch {started}; while [ ! -e {go} ]; do sleep 0.02; done")  # noqa: S604
    # A TTL of 60 s: the keeper's next renewal is 20 s away, long after the command would start.
    settings = settings_for(repo, ("r",), f"touch {ran}", lease_ttl=60.0, setup=setup)

    def take_over() -> None:
        wait_for(started.exists, what="the setup command")
        store.take_over("r")  # another worker took the run while this one was in setup
        go.touch()

    thief = threading.Thread(target=take_over)
    thief.start()
    result = run(store, settings)
    thief.join()
    assert not ran.exists()
    [end] = result.ends
    assert isinstance(end, RunError)
    assert "lease has moved on" in end.message
    log = (repo / ".autonomous_runs" / "r" / "run.log").read_text()
    assert "the command was not started" in log


def test_each_renewal_moves_the_deadline_to_before_the_lease_can_expire() -> None:
    store = MemoryStore(shares_queue=True)
    command = CommandSpec(argv=("true",))
    store.enqueue(BatchDefinition(batch_id="b", run_ids=("r",), command=command, base_sha="a" * 40))
    claim = store.claim_next(batch_id="b", owner=LeaseOwner.here("w"), ttl=10.0)
    assert claim is not None
    before = time.monotonic()
    with LeaseKeeper(store, claim, leased=True) as keeper:
        at = keeper.deadline.at
    assert at is not None
    assert before + 10.0 * (1 - KILL_MARGIN) <= at <= time.monotonic() + 10.0 * (1 - KILL_MARGIN)
    with LeaseKeeper(store, claim, leased=False) as private:
        assert private.deadline.at is None
    assert Deadline().at is None


def test_only_a_claim_another_worker_can_take_over_is_renewed_by_a_thread(repo: Path, tmp_path: Path) -> None:
    """A shared queue's claim is renewed while its run works; a private store's needs nothing renewed
    (nothing can take it over), so its run starts no renewing thread: a third of a millisecond a run."""
    for shared in (False, True):
        started, go = tmp_path / f"started-{shared}", tmp_path / f"go-{shared}"
        setup = CommandSpec(shell=f"touch {started}; while [ ! -e {go} ]; do sleep 0.02; done")  # noqa: S604
        settings = settings_for(repo, (f"r{int(shared)}",), "true", setup=setup)
        seen: list[str] = []

        def look(started: Path = started, go: Path = go, seen: list[str] = seen) -> None:
            wait_for(started.exists, what="the setup command")
            seen.extend(thread.name for thread in threading.enumerate() if thread.name.startswith("lease-"))
            go.touch()

        watcher = threading.Thread(target=look)
        watcher.start()
        result = run(MemoryStore(shares_queue=shared), settings)
        watcher.join()
        assert result.exit_code == 0
        assert seen == ([f"lease-r{int(shared)}"] if shared else [])
