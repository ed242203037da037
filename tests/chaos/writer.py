"""A run's command for the chaos suite: writes files it lists in a manifest, then lingers if told to.

Each file is listed (its git blob id and path) only once it is wholly written, so every listed
file is one the run wrote: after any kill, each must be on a commit reachable from the refs.
Run as `python writer.py MANIFEST_DIR [options]` inside a run (it reads PARALLEL_RUNS_*).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import time
from pathlib import Path


def blob_id(data: bytes) -> str:
    """The id git gives a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _write(path: Path, data: bytes, manifest: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with manifest.open("a", encoding="utf-8") as listed:
        listed.write(f"{blob_id(data)} {path.as_posix()}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifests", type=Path)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--binary", type=int, default=0, help="bytes of each random binary file")
    parser.add_argument("--binaries", type=int, default=1, help="how many binary files")
    parser.add_argument("--log", type=int, default=0, help="bytes of output (run.log)")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds spent writing the files")
    parser.add_argument("--linger", type=float, default=0.0, help="seconds to sleep at the end")
    parser.add_argument("--linger-attempt", type=int, default=1)
    parser.add_argument("--linger-while", type=Path, help="linger only while this file exists")
    args = parser.parse_args()
    run, slug = os.environ["PARALLEL_RUNS_RUN_ID"], os.environ["PARALLEL_RUNS_SLUG"]
    attempt = int(os.environ["PARALLEL_RUNS_ATTEMPT"])
    manifest = args.manifests / f"{slug}.{attempt}"
    (args.manifests / f"{slug}.{attempt}.started").touch()
    for n in range(args.files):
        # Ten files a directory: a save then writes many tree objects (write-tree holds its lock longer).
        _write(Path(f"w{attempt}/{n // 10:03d}/{n:04d}.txt"), f"{run} {attempt} {n}\n".encode(), manifest)
        time.sleep(args.slow / max(1, args.files))
    for n in range(args.binaries if args.binary else 0):
        _write(Path(f"bin/a{attempt}-{n}.bin"), os.urandom(args.binary), manifest)
    for _ in range(args.log // 76_000):
        sys.stdout.write(base64.encodebytes(os.urandom(57_000)).decode())
    sys.stdout.flush()
    (args.manifests / f"{slug}.{attempt}.done").touch()
    deadline = time.monotonic() + args.linger
    while attempt == args.linger_attempt and time.monotonic() < deadline:
        if args.linger_while is not None and not args.linger_while.exists():
            break
        time.sleep(0.05)


if __name__ == "__main__":
    main()
