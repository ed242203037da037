"""A `run` start in a long-used runs dir: what looking for a killed batch's leftovers costs per run
the runs dir ever had.

Each `run` first recovers what dead holders left (`maintenance.recover`), and every run the runs dir
ever had leaves a lock file to look at. A batch of --runs no-op runs fills a runs dir on a generated
repository (tmpfs by default); then `recover` is timed over it as it is (the runs dir's index says
which runs finished), and with the index set aside, as an older version left a runs dir: each
finished run's SQLite store is opened (the baseline, measured in the same run). Medians of --rounds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from overhead import bench_repository, timed_batch  # type: ignore[import-not-found]
from parallel_runs.maintenance import recover


def _recover_ms(repo: Path, runs_dir: Path, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        report = recover(repo=repo, runs_dir=runs_dir)
        times.append(time.perf_counter() - started)
        if report.recovered or report.failed:  # every run finished: nothing is left to recover
            raise SystemExit(f"recover found something to do in a finished runs dir: {report}")
    return statistics.median(times) * 1000


def main() -> int:
    """Fill a runs dir, time `recover` over it with and without its index, print the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=400, help="finished runs in the runs dir")
    parser.add_argument("--rounds", type=int, default=5, help="timed recovers each way")
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="where to put it all")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pr-history-", dir=args.dir if args.dir.is_dir() else None))
    try:
        repo = bench_repository(root, None, 50)
        runs_dir = root / "runs"
        run_ids = f"old-{{1..{args.runs}}}"
        timed_batch(repo, runs_dir, batch_id="history", run_ids=run_ids, workers=4, command="true")
        indexed = _recover_ms(repo, runs_dir, args.rounds)
        (runs_dir / ".index").rename(root / "index-aside")
        unindexed = _recover_ms(repo, runs_dir, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"runs dir of {args.runs} finished runs; recover at a run's start, median of {args.rounds}:")
    print(f"with the runs dir's index: {indexed:.0f} ms ({indexed / args.runs:.2f} ms a run)")
    print(f"without it (every store opened): {unindexed:.0f} ms ({unindexed / args.runs:.2f} ms a run)")
    print(f"history ratio without / with the index: {unindexed / indexed:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
