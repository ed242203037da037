"""Real batches for the dashboard's tests: a repository whose agent writes hostile text everywhere a
run can (its run id, its output and error tail, a 1 MB line, its change, a test's failure message),
run by the real `parallel-runs run` over a runs dir or a PostgreSQL database."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.testclient import TestClient

from parallel_runs.core.redaction import Redactor
from parallel_runs.dashboard.app import create_app
from parallel_runs.dashboard.context import Dashboard
from parallel_runs.dashboard.source import Source
from parallel_runs.store import open_records
from tests.helpers import cli, git

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
HOSTILE_RUN = 'x"><img/src=x/onerror=alert(3)>'
LONG_LINE = "L" * (1024 * 1024)

AGENT = f"""import pathlib, sys
run_id = sys.argv[1]
print("hello from", run_id)
print({SCRIPT!r})
print({IMG!r})
pathlib.Path("notes.txt").write_text({SCRIPT!r} + "\\n" + {IMG!r} + "\\n")
if run_id.startswith("bad"):
    print("L" * {len(LONG_LINE)})
    print("<b>boom</b>", file=sys.stderr)
    sys.exit(1)
if run_id.startswith("reg"):
    pathlib.Path("calc.py").write_text("def add(a, b):\\n    return a - b\\n")
"""

FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "agent.py": AGENT,
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import unittest\n\nfrom calc import add\n\n\nclass TestAdd(unittest.TestCase):\n"
        f"    def test_add(self):\n        self.assertEqual(add(2, 3), 5, {SCRIPT!r})\n"
    ),
}
RUN_IDS = ("ok-1", "ok-2", "bad-1", "reg-1", HOSTILE_RUN)


@dataclass(frozen=True)
class Batch:
    """A batch that ran, and where its records are."""

    batch_id: str
    repo: Path
    runs_dir: Path
    database_url: str | None

    @property
    def place(self) -> Path | str:
        """What `open_records` opens."""
        return self.database_url or self.runs_dir


def make_project(root: Path) -> Path:
    """The repository the hostile agent runs in."""
    repo = root / "project"
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "project")
    return repo


def run_batch(root: Path, *, database_url: str | None = None, run_ids: tuple[str, ...] = RUN_IDS) -> Batch:
    """Run the hostile batch for real (`parallel-runs run`, in-process) and return where it is."""
    repo = make_project(root)
    batch_id = f"dash-{secrets.token_hex(4)}"
    runs_dir = root / "runs"
    store = ["--database-url", database_url] if database_url else []
    done = cli(
        "run",
        "--run-ids",
        *run_ids,
        "--workers",
        "2",
        "--batch-id",
        batch_id,
        "--runs-dir",
        str(runs_dir),
        *store,
        "--command",
        f"{sys.executable} agent.py {{run_id}}",
        "--test-command",
        f"{sys.executable} -m unittest discover -s tests -t .",
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # bad-1 failed, reg-1 regressed
    return Batch(batch_id, repo, runs_dir, database_url)


@contextmanager
def client_of(
    batch: Batch, *, allow_cancel: bool = False, token: str | None = None, secrets_known: tuple[str, ...] = ()
) -> Iterator[TestClient]:
    """Starlette's TestClient over the dashboard of the batch's location (a loopback host)."""
    with client_at(
        batch.place, allow_cancel=allow_cancel, token=token, secrets_known=secrets_known
    ) as client:
        yield client


@contextmanager
def client_at(
    place: Path | str,
    *,
    allow_cancel: bool = False,
    token: str | None = None,
    secrets_known: tuple[str, ...] = (),
) -> Iterator[TestClient]:
    """Starlette's TestClient over the dashboard of a runs dir or a database URL (a loopback host)."""
    with open_records(place) as records:
        dashboard = Dashboard(
            source=Source(records),
            redact=Redactor(secrets_known),
            database_url=place if isinstance(place, str) else None,
            allow_cancel=allow_cancel,
            token=token,
        )
        with TestClient(create_app(dashboard), base_url="http://127.0.0.1") as client:
            yield client
