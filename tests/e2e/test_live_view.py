"""The live view at 80 columns (issue #12 §1), through a real pseudo-terminal: run ids and statuses are
never cut, the other columns give way, and no line is wider than the terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from rich.cells import cell_len

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
IDS = ["experiment-number-01-with-a-long-name", "experiment-number-02-with-a-long-name"]


def screen_lines(raw: bytes) -> list[str]:
    """What the terminal was given to show, as lines (cursor movements and colours removed)."""
    text = ANSI.sub("", raw.decode(errors="replace"))
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


def test_the_live_view_fits_80_columns_without_cutting_run_ids_or_statuses(
    repo: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    long_line = "a very long line of output that would never fit next to the run id " * 2
    command = (
        f'echo "{long_line}"; until [ -e {gate} ]; do sleep 0.05; done; '
        f'[ "$PARALLEL_RUNS_RUN_ID" = {IDS[0]} ] || {{ echo "ERROR: {long_line}"; exit 3; }}'
    )
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parallel_runs",
            "run",
            "--run-ids",
            *IDS,
            "--workers",
            "2",
            "--command",
            command,
        ],
        cwd=repo,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"},
    )
    os.close(follower)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while not all(f"{run_id}  running".encode() in seen for run_id in IDS):
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([leader], [], [], 0.2)[0]:
                seen += os.read(leader, 65536)
        gate.touch()
        while proc.poll() is None or select.select([leader], [], [], 0.2)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=30) == 1
    finally:
        gate.touch()
        os.close(leader)
    lines = screen_lines(seen)
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert too_wide == []
    for run_id in IDS:
        assert any(line.startswith(f"{run_id}  running  ") for line in lines), lines
        assert any(line.endswith(f"\u2192 parallel-runs/{run_id}") for line in lines), lines  # not broken
    assert not re.search(r"experiment-number[\w-]*\u2026", "\n".join(lines))  # no run id cut short
    assert any("run" in line and "status" in line and "last output" in line for line in lines)
    assert any(
        line.startswith("failed    experiment-number-02-with-a-long-name (attempt 1,") for line in lines
    )
    etas = [line.rsplit("ETA ", 1)[1] for line in lines if "ETA " in line]
    assert etas[0] == "—"  # not "done" before anything started
    assert etas[-1] in ("—", "done") or etas[-1].endswith("s")
