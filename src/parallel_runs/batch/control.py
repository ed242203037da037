"""How a running batch is steered: stop requests (Ctrl-C, SIGTERM, budget) and the process groups to stop.

Shared by the supervisor (which owns it) and every attempt (which registers its command's group).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

from parallel_runs.core.events import Event, EventKind
from parallel_runs.process import signal_run

__all__ = ["BatchControl", "stop_on_signals"]

log = logging.getLogger(__name__)


class BatchControl:
    """Stop flag, live process groups, and the event sink of one batch. Thread-safe."""

    def __init__(self, *, grace: float, on_event: Callable[[Event], None] | None = None) -> None:
        self.grace = grace
        self._on_event = on_event
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._groups: dict[str, int] = {}
        self._stopped_runs: set[str] = set()  # lease taken over: no command of theirs may run here
        self._kill_timer: threading.Timer | None = None
        self.stop_reason: str | None = None  # "interrupted", "budget" or "cancelled"
        self.shared_batch: str | None = None  # set while working a shared batch: a stop here is local
        self._hard = False
        self._halted = threading.Event()

    def emit(self, kind: EventKind, run_id: str | None = None, **data: object) -> None:
        """Report an event (never raises into the caller: a broken display must not stop runs)."""
        if self._on_event is None:
            return
        try:
            self._on_event(Event(kind, datetime.now(UTC), run_id, data))
        except Exception:
            log.exception("event handler failed on %s", kind)

    @property
    def is_stopping(self) -> bool:
        """True once a stop was requested: start nothing new."""
        return self._stop.is_set()

    @property
    def is_halted(self) -> bool:
        """True once --halt-on-failure was reached: start nothing new, let running runs finish."""
        return self._halted.is_set()

    def halt(self, *, failed: int, limit: int) -> None:
        """Start nothing new from now on (running runs finish); said once."""
        if not self._halted.is_set():
            self._halted.set()
            self.emit(EventKind.HALTED, failed=failed, limit=limit)

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; False if a stop request cut the wait short."""
        return not self._stop.wait(seconds)

    # A worker's commands share its shim, so a shim's group names whichever command it runs now: every
    # signal is sent under the lock, while the run that asked for it is still registered. The shim
    # ignores one that lands after its command ended.
    def register(self, run_id: str, pgid: int) -> None:
        """A command's shim took it (pgid: its group): stop it at once if the batch is stopping, kill it
        if its run was stopped."""
        with self._lock:
            self._groups[run_id] = pgid
            stopping, hard = self._stop.is_set(), self._hard or run_id in self._stopped_runs
            if stopping or hard:
                signal_run(pgid, hard=hard)

    def unregister(self, run_id: str) -> None:
        """A command ended."""
        with self._lock:
            self._groups.pop(run_id, None)

    def stop_run(self, run_id: str) -> None:
        """Stop one run's command (SIGTERM, SIGKILL after the grace period), and kill any it starts
        later, until `clear_run_stop`; the batch goes on."""
        with self._lock:
            self._stopped_runs.add(run_id)
            pgid = self._groups.get(run_id)
            if pgid is None:
                return
            signal_run(pgid, hard=False)
        timer = threading.Timer(self.grace, self._kill_if_still_running, args=(run_id, pgid))
        timer.daemon = True
        timer.start()

    def is_run_stopped(self, run_id: str) -> bool:
        """True once `stop_run(run_id)`, until `clear_run_stop(run_id)`."""
        with self._lock:
            return run_id in self._stopped_runs

    def clear_run_stop(self, run_id: str) -> None:
        """A new claim of the run: an earlier claim's stop no longer applies."""
        with self._lock:
            self._stopped_runs.discard(run_id)

    def _kill_if_still_running(self, run_id: str, pgid: int) -> None:
        # An ended group is unregistered, and its id may already belong to someone else's processes.
        with self._lock:
            if self._groups.get(run_id) == pgid:
                signal_run(pgid, hard=True)

    def request_stop(self, reason: str) -> None:
        """First request: SIGTERM every command, SIGKILL after the grace period. Second: SIGKILL now."""
        with self._lock:
            first = not self._stop.is_set()
            self._hard = not first
            if first:
                self.stop_reason = reason
            self._stop.set()
        self.emit(
            EventKind.STOP_REQUESTED,
            reason=reason,
            hard=not first,
            grace_seconds=self.grace,
            shared_batch=self.shared_batch,
        )
        if first:
            self._signal_all(signal.SIGTERM)
            self._kill_timer = threading.Timer(self.grace, self._grace_expired)
            self._kill_timer.daemon = True
            self._kill_timer.start()
        else:
            self._signal_all(signal.SIGKILL)

    def close(self) -> None:
        """Cancel the pending SIGKILL timer once the batch is over."""
        if self._kill_timer is not None:
            self._kill_timer.cancel()

    def _grace_expired(self) -> None:
        """From now on the stop is hard: a command that starts late is killed, not asked to stop."""
        with self._lock:
            self._hard = True
        self._signal_all(signal.SIGKILL)

    def _signal_all(self, sig: signal.Signals) -> None:
        with self._lock:
            sent = [
                (run_id, pgid)
                for run_id, pgid in self._groups.items()
                if signal_run(pgid, hard=sig is signal.SIGKILL)
            ]
        for run_id, pgid in sent:
            log.info("sent %s to run %r (process group %d)", sig.name, run_id, pgid)


@contextmanager
def stop_on_signals(control: BatchControl) -> Iterator[None]:
    """SIGINT and SIGTERM ask the batch to stop (twice: stop now) instead of killing this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        control.request_stop("interrupted")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
