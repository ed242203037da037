"""A worker process holds at most two connections, whatever its --workers (issue #13, P8).

64 matrix legs x 4 workers at one connection per worker thread would need 256 connections, and
PostgreSQL allows 100 by default (managed servers fewer): this batch runs on a database that
allows 12 connections, with 4 processes x 8 workers.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from parallel_runs.store import upgrade
from tests.helpers import cli, finish, git, start_cli
from tests.integration.postgres.helpers import _execute


def test_four_processes_of_eight_workers_share_a_database_that_allows_twelve_connections(
    repo: Path, tmp_path: Path, scratch_database: Callable[[], str]
) -> None:
    url = scratch_database()
    upgrade(url)
    _execute(f'ALTER DATABASE "{make_url(url).database}" CONNECTION LIMIT 12')
    ledger, batch = tmp_path / "ledger", f"limit-{secrets.token_hex(3)}"
    clones = [repo] + [tmp_path / f"clone-{n}" for n in range(3)]
    for clone in clones[1:]:
        git(tmp_path, "clone", "--quiet", str(repo), str(clone))
    command = f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}'
    runner = start_cli(
        "run",
        "--database-url",
        url,
        "--batch-id",
        batch,
        "--run-ids",
        "c{001..200}",
        "--workers",
        "8",
        "--quiet",
        "--command",
        command,
        cwd=repo,
    )
    helpers = [
        start_cli(
            "worker",
            "--batch",
            batch,
            "--database-url",
            url,
            "--workers",
            "8",
            "--quiet",
            "--wait",
            "60s",
            cwd=clone,
        )
        for clone in clones[1:]
    ]
    for process in [runner, *helpers]:
        out, err = finish(process, timeout=600)
        assert process.returncode == 0, out + err
        assert "too many" not in err.lower()
    ran = Counter(ledger.read_text().split())
    assert len(ran) == 200
    assert max(ran.values()) == 1  # no run executed twice
    done = cli("report", "--format", "json", "--database-url", url, "--batch", batch, cwd=repo)
    assert json.loads(done.stdout)["counts"] == {"succeeded": 200}
