"""No secret in what leaves, with the shared PostgreSQL store (issue #16 item 11): runs get the
store's URL without its password, and a run that prints the password anyway (passed by name) leaves
it in no error_tail of the store and in no report."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.e2e.postgres.test_action import with_password
from tests.helpers import cli

TOKEN = "ghs_sharedStoreTestToken00000000003"


def stored_tails(url: str, batch: str) -> list[str]:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg2"), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT error_tail FROM attempts WHERE batch_id = :b"), {"b": batch}
            )
            return [str(row[0]) for row in rows]
    finally:
        engine.dispose()


def run_printing_the_url(repo: Path, url: str, *, pass_env: str) -> tuple[str, Path]:
    batch = f"s-{secrets.token_hex(4)}"
    runs_dir = repo.parent / f"runs-{batch}"
    command = 'env; echo "store: $PARALLEL_RUNS_DATABASE_URL"; echo "token: $GITHUB_TOKEN"; exit 1'
    env = {"GITHUB_TOKEN": TOKEN, "PARALLEL_RUNS_PASS_ENV": pass_env}
    ran = cli(
        "run", "--database-url", url, "--batch-id", batch, "--run-ids", "leak", "--runs-dir", str(runs_dir),
        "--command", command, cwd=repo, env=env,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    return batch, runs_dir / "leak" / "run.log"


def test_a_run_gets_the_stores_url_without_its_password(repo: Path, database_url: str) -> None:
    url, password = with_password(database_url)
    batch, log = run_printing_the_url(repo, url, pass_env="")
    output = log.read_text()
    assert password not in output
    assert TOKEN not in output
    expected = url.replace(f":{password}@", "@")
    assert f"store: {expected}" in output  # the store is still named: its host, user and database
    assert stored_tails(database_url, batch)


def test_a_password_the_run_prints_is_in_no_error_tail_and_no_report(
    repo: Path, database_url: str, tmp_path: Path
) -> None:
    url, password = with_password(database_url)
    batch, log = run_printing_the_url(repo, url, pass_env="PARALLEL_RUNS_DATABASE_URL,GITHUB_TOKEN")
    assert password in log.read_text()  # passed by name: the run had it, and its raw output holds it
    assert TOKEN in log.read_text()
    tails = stored_tails(database_url, batch)
    assert tails
    assert all("store: " in tail and password not in tail and TOKEN not in tail for tail in tails)
    env = {"GITHUB_TOKEN": TOKEN}
    for fmt in ("json", "markdown", "html", "summary"):
        done = cli("report", "--database-url", url, "--batch", batch, "--format", fmt, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "leak" in done.stdout
        assert password not in done.stdout
        assert TOKEN not in done.stdout
    rows = json.loads(
        cli("report", "--database-url", url, "--batch", batch, "--format", "json", cwd=tmp_path).stdout
    )
    assert "***" in json.dumps(rows)
