"""Test-only switches that break one safety layer on purpose: the chaos suite's proof that it catches faults.

`PARALLEL_RUNS_TEST_BREAK=fencing,spool` breaks those layers in this process and the processes it
starts. Nothing sets it but `make chaos-proof`, which runs each chaos scenario against its broken
build and expects the scenario to fail. Each switch is one `if` at the one place it disables (two
for `shared-git-state`, one in each of its layers); those of the shared store's claims and results are
arguments of its PL/pgSQL functions (store migration 0006), which hold the SQL they break:

- `run-lock` (`locks.OwnedLock`): layers 2 and 3; each process locks a file of its own.
- `lease` (`store/claims._FAULTS`): shared-store leases; a claim takes over a live lease as if expired.
- `fencing` (`store/leases.TOKEN_FENCED`): the fencing token; a stale holder's writes are not refused.
- `spool` (`store/shared.finish_attempt`): a result the database cannot take is not spooled.
- `save-before-remove` (`git/worktrees.save_changes`): a worktree is removed with nothing saved.
- `shared-git-state` (`git/settings.SaveSettings.args`, `git/shared.SharedState.restore`): the save
  runs git with the shared config as runs left it, and nothing a run changed there is put back.
- `keep-tip` (`git/repository._keep_tip`): run-branch commits a save displaces are not kept.
- `slug` (`core/ids.slugify`): a run id is its own path component and branch name, whatever it holds.
- `no-space` (`errors.is_disk_full`): a full disk is an error like any other.
- `watchdog` (`shim/command.py`): the shim neither refuses nor kills a command past its lease deadline.
- `contain` (`shim/command.py`): the shim kills nothing the command left behind (nor does the stray net).
- `batch-fence` (`store/claims._FAULTS`): a takeover in one batch leaves another batch's lapsed claim current.
- `restart-grace` (`store/leases.RESTART_GRACE`): a lease that lapsed while the database was down is
  taken at once.
- `reuse-reset` (`git/resetting.reset_for_reuse`): a reused worktree is checked out at the next run's
  base, and nothing else of the last run is removed.

Reading the environment here, outside `config/`, is the one exception to the house rule: a switch
must reach the layer it breaks without passing through any signature.
"""

from __future__ import annotations

import logging
import os

__all__ = ["ENV", "FAULTS", "is_broken"]

log = logging.getLogger(__name__)

ENV = "PARALLEL_RUNS_TEST_BREAK"
FAULTS = frozenset(
    {
        "run-lock",
        "lease",
        "fencing",
        "spool",
        "save-before-remove",
        "keep-tip",
        "slug",
        "no-space",
        "watchdog",
        "contain",
        "batch-fence",
        "restart-grace",
        "shared-git-state",
        "reuse-reset",
    }
)
_warned: set[str] = set()


def is_broken(fault: str) -> bool:
    """Whether `PARALLEL_RUNS_TEST_BREAK` names `fault` (a test-only switch; see the module's docstring)."""
    if fault not in FAULTS:
        raise ValueError(f"unknown test fault {fault!r}")
    broken = fault in os.environ.get(ENV, "").replace(" ", "").split(",")
    if broken and fault not in _warned:
        _warned.add(fault)
        log.warning("%s=%s: this build is deliberately broken (%s)", ENV, os.environ[ENV], fault)
    return broken
