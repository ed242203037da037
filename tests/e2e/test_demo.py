"""`make demo` runs a real batch; this runs the same script with the test interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_demo_runs_a_real_batch_and_prints_the_report(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the demo keeps its repository for inspection
    done = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "6 runs: 4 succeeded, 1 failed, 1 regressed" in out
    assert "│ AssertionError: add is broken" in out  # the failed run says why, under its line
    # The test gate: the run that broke only a unit test is regressed, naming it as a node id.
    assert "│ new failure: tests/test_calc.py::TestAdd::test_negative: AssertionError: 5 != 1" in out
    assert out.count("parallel-runs/exp-") >= 12  # per-run lines and the branch listing
    repo = Path(out.split("demo repository: ", 1)[1].splitlines()[0])
    branches = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/parallel-runs/"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(branches) == 6
    assert repo.is_relative_to(tmp_path)
