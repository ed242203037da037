"""A fresh database works (issue #20, item 1): `plan` and `run` create the schema on an empty
PostgreSQL database, as a service container always is, and upgrade one that is behind; a `worker`
never changes it. Every test here gets a new, empty database of its own."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parallel_runs.store import SharedStore, mask_url, upgrade
from parallel_runs.store.migrate import HEAD_REVISION
from parallel_runs.store.urls import parse_postgres_url
from tests.action_flow import Workflow, table_rows
from tests.helpers import cli, clone, finish, start_cli, wait_for
from tests.integration.postgres.helpers import admin_url

SECRET = "s3cr3t-pw"  # trust auth ignores it: a password that must never be printed


def with_secret(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def versions_of(url: str) -> list[str]:
    """The rows of alembic_version."""
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def sessions_of(url: str) -> int:
    """Sessions that ended on the database at `url` so far (read through the server's admin database)."""
    engine = create_engine(parse_postgres_url(admin_url()), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = text("SELECT sessions FROM pg_stat_database WHERE datname = :name")
            return int(conn.execute(query, {"name": make_url(url).database}).scalar_one())
    finally:
        engine.dispose()


def tables_of(url: str) -> set[str]:
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_action_plan_legs_and_report_from_an_empty_database(
    repo: Path, tmp_path: Path, scratch_database: Callable[[], str]
) -> None:
    url = with_secret(scratch_database())
    workflow = Workflow(tmp_path / "workflow")
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    ledger = tmp_path / "ledger"  # each run appends its id: how often each one executed
    inputs = {
        "run-ids": "fresh-{1..6}",
        "command": f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}; echo x > out.txt',
        "database-url": url,
        "batch-id": f"fresh-{secrets.token_hex(4)}",
    }
    plan = workflow.job(first, "plan").run(inputs | {"mode": "plan", "max-jobs": "3"})
    assert plan.ok, plan.log
    said = f"created the parallel-runs schema (revision {HEAD_REVISION}) in database {mask_url(url)}"
    assert plan.log.count(said) == 1, plan.log
    assert json.loads(plan.outputs["matrix"]) == {"leg": [1, 2, 3]}

    legs = workflow.legs([first, second], inputs, plan)
    for leg in legs:
        assert leg.ok, leg.log
        assert "parallel-runs schema" not in leg.log  # the legs found it current
    executed = Counter(ledger.read_text().split())
    assert executed == Counter(f"fresh-{n}" for n in range(1, 7))  # each run executed once

    report = workflow.job(tmp_path, "report").run(
        {"mode": "report", "batch-id": inputs["batch-id"], "database-url": url}
    )
    assert report.ok, report.log
    assert table_rows(report.summary) == [(f"fresh-{n}", "succeeded") for n in range(1, 7)]
    assert report.outputs["status"] == "success"
    for result in (plan, *legs, report):
        assert SECRET not in result.visible_log


def test_concurrent_plans_on_one_empty_database_make_one_schema(
    repo: Path, scratch_database: Callable[[], str]
) -> None:
    url = with_secret(scratch_database())
    plans = [
        start_cli(
            *("plan", "--database-url", url, "--batch-id", f"race-{n}", "--run-ids", f"race-{n}-{{1..3}}"),
            *("--command", "true"),
            cwd=repo,
        )
        for n in range(4)
    ]
    said = [finish(process) for process in plans]
    assert [process.returncode for process in plans] == [0, 0, 0, 0], said
    errors = "".join(err for _, err in said)
    assert errors.count("created the parallel-runs schema") == 1, errors
    assert "Traceback" not in errors
    assert SECRET not in errors
    assert versions_of(url) == [HEAD_REVISION]
    with SharedStore.connect(url) as store:
        assert [len(store.batch_runs(f"race-{n}")) for n in range(4)] == [3, 3, 3, 3]


def test_plan_upgrades_a_database_that_is_behind_and_says_so(
    repo: Path, scratch_database: Callable[[], str]
) -> None:
    url = with_secret(scratch_database())
    upgrade(url, revision="0001")
    planned = cli("plan", "--database-url", url, "--run-ids", "a,b", "--command", "true", cwd=repo)
    assert planned.returncode == 0, planned.stderr
    line = f"upgraded the parallel-runs schema of database {mask_url(url)} from revision 0001 to 0006"
    assert planned.stderr.strip().splitlines() == [f"parallel-runs: {line}"]
    assert "parallel-runs schema" not in planned.stdout  # stdout holds the outputs only
    again = cli("plan", "--database-url", url, "--run-ids", "c", "--command", "true", cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "schema" not in again.stderr  # already current: nothing to say


def test_run_creates_the_schema_and_a_worker_never_does(
    repo: Path, scratch_database: Callable[[], str]
) -> None:
    worker_db, run_db = with_secret(scratch_database()), with_secret(scratch_database())
    refused = cli("worker", "--database-url", worker_db, "--batch", "nothing", cwd=repo)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "has no parallel-runs schema" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert SECRET not in refused.stderr
    assert tables_of(worker_db) == set()  # the worker created nothing

    done = cli("run", "--database-url", run_db, "--run-ids", "x,y", "--command", "true", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created the parallel-runs schema (revision {HEAD_REVISION})" in done.stderr
    assert versions_of(run_db) == [HEAD_REVISION]


def test_a_newer_schema_is_refused_and_left_alone(repo: Path, scratch_database: Callable[[], str]) -> None:
    url = with_secret(scratch_database())
    upgrade(url)
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    for command in ("plan", "run"):
        refused = cli(command, "--database-url", url, "--run-ids", "x", "--command", "true", cwd=repo)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "has schema revision 9999, newer than this parallel-runs knows" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert versions_of(url) == ["9999"]


def test_a_waiting_worker_started_before_plan_waits_for_the_schema_too(
    repo: Path, tmp_path: Path, scratch_database: Callable[[], str]
) -> None:
    url = with_secret(scratch_database())
    ledger = tmp_path / "ledger"
    impatient = cli("worker", "--database-url", url, "--batch", "early", "--wait", "0.2s", cwd=repo)
    assert impatient.returncode == 2, impatient.stdout + impatient.stderr
    assert "has no parallel-runs schema" in impatient.stderr  # what it waited for, named
    before = sessions_of(url)
    worker = start_cli(
        *("worker", "--database-url", url, "--batch", "early", "--wait", "2m", "--quiet"), cwd=repo
    )
    # Plan only once the worker has found the database empty, and looked again.
    wait_for(lambda: sessions_of(url) >= before + 2, what="the worker to look for the schema twice")
    assert worker.poll() is None, finish(worker)
    assert tables_of(url) == set()  # neither worker created anything
    planned = cli(
        *("plan", "--database-url", url, "--batch-id", "early", "--run-ids", "e1,e2"),
        *("--command", f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}'),
        cwd=repo,
    )
    assert planned.returncode == 0, planned.stderr
    out, err = finish(worker, timeout=120)
    assert worker.returncode == 0, out + err
    assert Counter(ledger.read_text().split()) == Counter(["e1", "e2"])
    assert SECRET not in out + err
