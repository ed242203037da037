"""`make demo`: a real batch against a throwaway repository, then the report.

Creates a small Python project in a temp dir, runs 6 runs with 3 workers whose "agent" edits a
file and runs the project's check, judged by the project's unittest suite (the test gate): the run
`exp-bad` breaks the code so that the agent's own check fails (`failed`), and `exp-subtle` breaks
it in a way only a test catches (`regressed`, naming the test). Then prints the report table and
where the run branches are.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

AGENT = '''\
"""A stand-in for a coding agent: edits the project according to its run id, then checks it."""
import os, pathlib, subprocess, sys, time

run_id = os.environ["PARALLEL_RUNS_RUN_ID"]
print(f"agent for {run_id}: working in {os.getcwd()}")
time.sleep(0.5)  # pretend to think
calc = pathlib.Path("calc.py")
if run_id == "exp-bad":
    calc.write_text(calc.read_text().replace("return a + b", "return a - b"))
elif run_id == "exp-subtle":  # the agent's check still passes; one unit test does not
    calc.write_text(calc.read_text().replace("return a + b", "return abs(a) + b"))
else:
    n = int(run_id.rsplit("-", 1)[1])
    calc.write_text(calc.read_text() + f"\\n\\ndef times_{n}(x):\\n    return x * {n}\\n")
pathlib.Path("NOTES.md").write_text(f"run {run_id} was here\\n")
sys.exit(subprocess.call([sys.executable, "check.py"]))
'''

FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "check.py": "from calc import add\n\nassert add(2, 3) == 5, 'add is broken'\nprint('check passed')\n",
    "agent.py": AGENT,
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import unittest\n\nfrom calc import add\n\n\nclass TestAdd(unittest.TestCase):\n"
        "    def test_positive(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_negative(self):\n        self.assertEqual(add(-2, 3), 1)\n"
    ),
    "README.md": "# demo project\n",
}


def git(repo: Path, *args: str) -> str:
    """Run git quietly in the demo repository."""
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_repository(root: Path) -> Path:
    """A git repository holding the demo project, with one commit."""
    repo = root / "demo-project"
    repo.mkdir()
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.com", "add", "-A")
    git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.com", "commit", "--quiet", "-m", "demo")
    return repo


def parallel_runs(repo: Path, *args: str) -> int:
    """Run the CLI with this interpreter, output straight to the terminal."""
    return subprocess.call([sys.executable, "-m", "parallel_runs", *args], cwd=repo)


def main() -> int:
    """Build the repository, run the batch, print the report."""
    root = Path(tempfile.mkdtemp(prefix="parallel-runs-demo-"))
    repo = make_repository(root)
    print(f"demo repository: {repo}\n")
    code = parallel_runs(
        repo,
        "run",
        "--run-ids",
        "exp-{1..4},exp-bad,exp-subtle",
        "--workers",
        "3",
        "--batch-id",
        "demo",
        "--command",
        f"{sys.executable} agent.py",
        "--test-command",
        f"{sys.executable} -m unittest discover -s tests -t .",
    )
    print()
    parallel_runs(repo, "report")
    print("\nrun branches (each holds its run's changes):")
    listing = git(
        repo,
        "for-each-ref",
        "--format=%(refname:short)  %(objectname:short)  %(subject)",
        "refs/heads/parallel-runs/",
    )
    print(textwrap.indent(listing, "  "))
    print(f"\ninspect one:  git -C {repo} show parallel-runs/exp-bad")
    print(f"artifacts:    {repo / '.autonomous_runs'}")
    expected = 1  # exp-bad and exp-subtle break the code on purpose, so the batch exit code is 1
    if code != expected:
        print(f"demo: unexpected batch exit code {code} (expected {expected})", file=sys.stderr)
        return 1
    print(
        "\ndemo finished as expected: 4 runs succeeded; exp-bad failed and exp-subtle regressed on purpose "
        "(batch exit 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
