"""BatchControl with real process groups: who gets SIGTERM, who gets SIGKILL, and when."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from parallel_runs.batch import BatchControl
from tests.helpers import wait_for


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[bytes]]:
    """A process group leader that ignores SIGTERM."""
    proc = subprocess.Popen(
        ["bash", "-c", "trap '' TERM; while :; do sleep 0.05; done"], start_new_session=True
    )
    time.sleep(0.2)  # let bash install its trap
    yield proc
    proc.kill()
    proc.wait()


def test_a_command_starting_after_the_grace_period_is_killed_at_once(
    stubborn: subprocess.Popen[bytes],
) -> None:
    control = BatchControl(grace=0.1)
    control.request_stop("interrupted")
    time.sleep(0.4)  # the grace period is over: the stop is now hard
    control.register("late", stubborn.pid)
    wait_for(lambda: stubborn.poll() is not None, what="the late command to be killed", timeout=5)
    control.close()


def test_stopping_one_run_never_kills_a_group_that_has_ended_meanwhile(
    stubborn: subprocess.Popen[bytes],
) -> None:
    control = BatchControl(grace=0.2)
    control.register("run", stubborn.pid)
    control.stop_run("run")  # SIGTERM (ignored), SIGKILL after the grace period...
    control.unregister("run")  # ...unless the group ended: its id may be reused by then
    time.sleep(0.6)
    assert stubborn.poll() is None


def test_a_command_of_a_stopped_run_starting_later_is_killed_at_once(
    stubborn: subprocess.Popen[bytes],
) -> None:
    # Found by the chaos suite (R5): a worker paused before its command learnt on resuming that its
    # lease was taken over, and still ran the command, a second execution of the run.
    control = BatchControl(grace=30)
    control.stop_run("zombie")  # its lease was lost before any command of it started
    assert control.is_run_stopped("zombie")
    control.register("zombie", stubborn.pid)
    wait_for(lambda: stubborn.poll() is not None, what="the late command to be killed", timeout=5)
    control.clear_run_stop("zombie")  # claimed again later: its commands run
    assert not control.is_run_stopped("zombie")
    control.close()
