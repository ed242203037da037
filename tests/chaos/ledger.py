"""A run's command for the double-execution scenarios (R8, R9): it notes in a shared ledger when it
started and, every 20 ms, that it is still alive, then sleeps on; killed, it stops noting.

Usage: python ledger.py LEDGER SECONDS. Each line: `<label> <start|alive|end> <wall time>`, the
label naming the batch, attempt and pid. Two labels whose [start, last line] overlap ran at once.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(ledger: Path, seconds: float) -> None:
    label = f"{os.environ['PARALLEL_RUNS_BATCH_ID']}/{os.environ['PARALLEL_RUNS_ATTEMPT']}/{os.getpid()}"
    with ledger.open("a", buffering=1) as out:
        out.write(f"{label} start {time.time()!r}\n")
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            time.sleep(0.02)
            out.write(f"{label} alive {time.time()!r}\n")
        out.write(f"{label} end {time.time()!r}\n")


def overlaps(ledger: Path) -> list[str]:
    """Every pair of executions whose spans overlap: `a and b overlapped for N s`."""
    spans: dict[str, list[float]] = {}
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        label, _, at = line.split()
        span = spans.setdefault(label, [float(at), float(at)])
        span[0], span[1] = min(span[0], float(at)), max(span[1], float(at))
    found, ordered = [], sorted(spans.items(), key=lambda item: item[1][0])
    for n, (first, (_, first_end)) in enumerate(ordered):
        for second, (second_start, _) in ordered[n + 1 :]:
            if second_start < first_end:
                found.append(f"{first} and {second} overlapped for {first_end - second_start:.3f}s")
    return found


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
