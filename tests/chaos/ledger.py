"""A run's command for the double-execution scenarios (R8, R9): it notes in a shared ledger when it
started and, every 20 ms, that it is still alive, then sleeps on; killed, it stops noting.

Usage: python ledger.py LEDGER SECONDS. Each line: `<label> <start|alive|end> <wall time>`, the
label naming the run, batch, attempt and pid. Two executions of one run whose [start, last line]
overlap ran at once.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(ledger: Path, seconds: float) -> None:
    names = ("PARALLEL_RUNS_RUN_ID", "PARALLEL_RUNS_BATCH_ID", "PARALLEL_RUNS_ATTEMPT")
    label = "/".join([*(os.environ[name] for name in names), str(os.getpid())])
    with ledger.open("a", buffering=1) as out:
        out.write(f"{label} start {time.time()!r}\n")
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            time.sleep(0.02)
            out.write(f"{label} alive {time.time()!r}\n")
        out.write(f"{label} end {time.time()!r}\n")


def spans(ledger: Path) -> dict[str, tuple[float, float, bool]]:
    """Each execution's label: (start, last sign of life, whether it ended by itself)."""
    found: dict[str, tuple[float, float, bool]] = {}
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        label, what, at = line.split()
        start, last, ended = found.get(label, (float(at), float(at), False))
        found[label] = (min(start, float(at)), max(last, float(at)), ended or what == "end")
    return found


def overlaps(ledger: Path) -> list[str]:
    """Every pair of executions of one run whose spans overlap: `a and b overlapped for N s`."""
    found, ordered = [], sorted(spans(ledger).items(), key=lambda item: item[1][0])
    for n, (first, (_, first_end, _)) in enumerate(ordered):
        for second, (second_start, _, _) in ordered[n + 1 :]:
            if second.split("/")[0] == first.split("/")[0] and second_start < first_end:
                found.append(f"{first} and {second} overlapped for {first_end - second_start:.3f}s")
    return found


def ran_again(ledger: Path) -> list[str]:
    """Runs started again after an execution of theirs had ended by itself (its result was due)."""
    by_run: dict[str, list[tuple[float, bool]]] = {}
    for label, (start, _, ended) in spans(ledger).items():
        by_run.setdefault(label.split("/")[0], []).append((start, ended))
    return [run for run, runs in by_run.items() if any(ended for _, ended in sorted(runs)[:-1])]


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
