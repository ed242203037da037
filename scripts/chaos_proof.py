"""`make chaos-proof`: each chaos scenario against a build broken on purpose; each must fail.

A scenario that passes on a broken build could not tell it from a sound one. Each line below runs
one scenario (its quick pass, CHAOS_SCALE=quick) with PARALLEL_RUNS_TEST_BREAK naming the safety
layer to disable (see src/parallel_runs/testing_faults.py) and expects pytest to report a failed
test: then the scenario caught the fault. Prints which scenario caught which fault, and how.

Usage: python scripts/chaos_proof.py [R1 R5 ...]   (default: every scenario)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAOS = "tests/chaos"

# (scenario, its test module, a -k expression picking its test, the fault it must catch, what that does)
PROOFS = [
    ("R1 file", "test_r1_race.py", "file_mode", "run-lock",
     "each process takes a run lock and workspace lease of its own"),
    ("R1 PostgreSQL", "test_r1_race.py", "postgres_mode", "lease",
     "a claim takes over a live shared-store lease as if it had expired"),
    ("R2 file", "test_r2_kills.py", "file_mode", "save-before-remove",
     "worktrees are removed without saving their changes"),
    ("R2 PostgreSQL", "test_r2_kills.py", "postgres_mode", "save-before-remove",
     "worktrees are removed without saving their changes"),
    ("R3", "test_r3_restart.py", "r3", "spool", "a result the database cannot take is not spooled"),
    ("R4", "test_r4_inputs.py", "r4", "slug", "a run id is its own slug, whatever it holds"),
    ("R5", "test_r5_zombie.py", "r5", "fencing", "writes are not fenced by the lease's token"),
    ("R6", "test_r6_dirty.py", "r6", "keep-tip", "run-branch commits a save displaces are not kept"),
    ("R6 git config", "test_r6_dirty.py", "r6", "shared-git-state",
     "the save reads the shared git config as runs left it, and nothing is put back"),
    ("R7", "test_r7_disk_full.py", "r7", "no-space", "a full disk is not told apart from other errors"),
    ("R8 watchdog", "test_r8_lapsed_holder.py", "r8", "watchdog",
     "the shim neither refuses nor kills a command past its lease deadline"),
    ("R8 fence", "test_r8_lapsed_holder.py", "r8", "batch-fence",
     "a takeover in one batch leaves the other batch's lapsed claim current"),
    ("R9", "test_r9_outage.py", "r9", "watchdog,restart-grace",
     "commands outlive their lapsed leases, and leases that lapsed in the outage are taken at once"),
    ("R10", "test_r10_escapes.py", "r10", "contain", "the shim kills nothing the command left behind"),
    ("R12", "test_r12_reuse.py", "r12", "reuse-reset",
     "a reused worktree is checked out at the next run's base, nothing else is removed"),
]  # fmt: skip


def _prove(module: str, keyword: str, fault: str) -> tuple[str, str, float]:
    """Run one scenario on its broken build: (verdict, how it failed, seconds)."""
    env = {**os.environ, "PARALLEL_RUNS_TEST_BREAK": fault, "CHAOS_SCALE": "quick"}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"{CHAOS}/{module}", "-m", "chaos", "-k", keyword, "-x", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    failure = next((line for line in done.stdout.splitlines() if re.match(r"E\s+\w+Error", line)), "")
    if done.returncode == 1 and failure:
        return "caught", " ".join(failure.removeprefix("E").split())[:200], seconds
    verdict = "NOT CAUGHT (passed)" if done.returncode == 0 else f"ERROR (pytest exit {done.returncode})"
    return verdict, (done.stdout + done.stderr).strip().splitlines()[-1:][0][:240], seconds


def main(wanted: list[str]) -> int:
    rows = []
    for scenario, module, keyword, fault, broken in PROOFS:
        if wanted and not any(scenario.startswith(name) for name in wanted):
            continue
        print(f"{scenario}: running with PARALLEL_RUNS_TEST_BREAK={fault} ({broken})...", flush=True)
        verdict, how, seconds = _prove(module, keyword, fault)
        print(f"  {verdict} in {seconds:.0f}s: {how}", flush=True)
        rows.append((scenario, fault, verdict, f"{seconds:.0f}s", how))
    print("\nscenario        broken build         verdict  time  what the scenario saw")
    for scenario, fault, verdict, seconds, how in rows:
        print(f"{scenario:<15} {fault:<20} {verdict:<8} {seconds:>4}  {how}")
    return 0 if all(row[2] == "caught" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
