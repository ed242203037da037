"""Acceptance of the shared PostgreSQL store through the CLI (issue #4): many workers, one batch."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parallel_runs.core.command import CommandSpec
from parallel_runs.store import BatchDefinition, SharedStore
from parallel_runs.store.urls import parse_postgres_url
from tests.helpers import cli, clone, finish, git, processes_with, start_cli, wait_for
from tests.integration.postgres.private_server import PrivateServer, private_server


def shared_run(url: str, batch: str, ids: str) -> tuple[str, ...]:
    """The start of a `run` that enqueues `ids` as `batch` in the shared store and works it."""
    return ("run", "--database-url", url, "--batch-id", batch, "--run-ids", ids)


def batch_id() -> str:
    return f"b-{secrets.token_hex(4)}"


def report_json(cwd: Path, url: str, batch: str) -> dict[str, object]:
    done = cli("report", "--format", "json", "--database-url", url, "--batch", batch, cwd=cwd)
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def test_two_workers_on_two_clones_run_every_run_exactly_once(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    ledger = tmp_path / "ledger"
    ids = "w{01..20}"
    batch = batch_id()
    # The runs dir is the clone's: the ledger says who ran what ($PPID is the run's shim). The first
    # clone's runs wait (up to 60 s) for the helper to run one: on a busy machine its start-up alone
    # outlasted the whole batch, and "both workers did some" failed.
    both = tmp_path / "helper-ran-one"
    command = (
        f'echo "$PARALLEL_RUNS_RUN_ID $AUTONOMOUS_RUNS_DIR" >> {ledger}; echo done > out.txt; '
        f'case "$AUTONOMOUS_RUNS_DIR" in {second}/*) touch {both};; esac; '
        f"for _ in $(seq 1200); do [ -e {both} ] && break; sleep 0.05; done; sleep 0.3"
    )
    runner = start_cli(
        *shared_run(database_url, batch, ids),
        "--workers",
        "2",
        "--command",
        command,
        cwd=first,
    )
    wait_for(ledger.exists, what="the first run to start")
    helper = cli(
        "worker", "--batch", batch, "--database-url", database_url, "--workers", "2", cwd=second, timeout=300
    )
    out, err = finish(runner, timeout=300)
    assert runner.returncode == 0, out + err
    assert helper.returncode == 0, helper.stdout + helper.stderr
    lines = [line.split() for line in ledger.read_text().splitlines()]
    counts = Counter(run_id for run_id, _ in lines)
    assert sorted(counts) == [f"w{n:02d}" for n in range(1, 21)]
    assert set(counts.values()) == {1}  # every run executed exactly once
    assert len({runs_dir for _, runs_dir in lines}) == 2  # both workers did some
    data = report_json(first, database_url, batch)
    assert data["counts"] == {"succeeded": 20}


def test_a_killed_worker_s_run_is_taken_over_after_the_lease_expires(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    started, batch, marker = tmp_path / "started", batch_id(), "66.7891"
    command = (
        f'if [ "$PARALLEL_RUNS_ATTEMPT" = 1 ]; then touch {started}; sleep {marker}; fi; echo ok > ok.txt'
    )
    victim = start_cli(
        *shared_run(database_url, batch, "victim"),
        "--lease-ttl",
        "5s",
        "--command",
        command,
        cwd=first,
    )
    try:
        wait_for(started.exists, what="the first attempt to start")
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        took_over = time.monotonic()
        rescuer = cli(
            "worker",
            "--batch",
            batch,
            "--database-url",
            database_url,
            "--lease-ttl",
            "5s",
            cwd=second,
            timeout=120,
        )
        assert rescuer.returncode == 0, rescuer.stdout + rescuer.stderr
        # Taken over once the 5 s lease lapsed: about ten seconds with the rescuer's start-up; ten
        # times that is the bound, so a busy machine's slow start-up cannot fail it.
        assert time.monotonic() - took_over < 10 * (5 + 5)
        assert "attempt 1's lease expired" in rescuer.stderr, rescuer.stderr
    finally:
        for pid in processes_with(f"sleep {marker}"):
            signal_kill(pid)
    data = report_json(second, database_url, batch)
    (row,) = data["runs"]  # type: ignore[misc]
    assert row["status"] == "succeeded"
    assert row["attempts"] == 2
    statuses = attempt_statuses(database_url, "victim", batch)
    assert statuses == [(1, "abandoned"), (2, "succeeded")]


def signal_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


ATTEMPTS_OF_RUN = text(
    "select attempt, status from attempts where run_id = :r and batch_id = :b order by attempt"
)


def attempt_statuses(url: str, run_id: str, batch: str) -> list[tuple[int, str]]:
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(ATTEMPTS_OF_RUN, {"r": run_id, "b": batch}).all()
    finally:
        engine.dispose()
    return [(int(a), str(s)) for a, s in rows]


def query(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_artifacts_read_back_byte_identical_on_another_clone(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    batch = batch_id()
    command = 'printf "log line \\xe2\\x9c\\x93 %s\\n" "$PARALLEL_RUNS_RUN_ID"; echo same > same.txt'
    done = cli(
        *shared_run(database_url, batch, "art1,art2"),
        "--workers",
        "2",
        "--command",
        command,
        cwd=first,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("run.log", "changes.patch"):
        out = tmp_path / f"art1-{name}"
        got = cli(
            "artifacts", "get", "art1", name, "-o", str(out), "--database-url", database_url, cwd=second
        )
        assert got.returncode == 0, got.stderr
        original = first / ".autonomous_runs" / "art1" / name
        assert out.read_bytes() == original.read_bytes()
    listings = {}
    for run_id in ("art1", "art2"):
        listed = cli(
            "artifacts", "list", run_id, "--format", "json", "--database-url", database_url, cwd=second
        )
        assert listed.returncode == 0, listed.stderr
        listings[run_id] = {a["name"]: a["sha256"] for a in json.loads(listed.stdout)["artifacts"]}
    assert listings["art1"]["run.log"] != listings["art2"]["run.log"]
    # Both patches add the same file with the same content: both runs' rows point at one blob row,
    # keyed by the hash of the patch's bytes (not of anything run-specific), stored once.
    patch = (first / ".autonomous_runs" / "art1" / "changes.patch").read_bytes()
    assert (first / ".autonomous_runs" / "art2" / "changes.patch").read_bytes() == patch
    sha = hashlib.sha256(patch).hexdigest()
    assert listings["art1"]["changes.patch"] == listings["art2"]["changes.patch"] == sha
    rows = query(
        database_url,
        "select run_id, sha256 from attempt_artifacts"
        " where batch_id = :b and name = 'changes.patch' order by run_id",
        b=batch,
    )
    assert rows == [("art1", sha), ("art2", sha)]
    assert query(database_url, "select size from artifact_blobs where sha256 = :s", s=sha) == [(len(patch),)]
    # Across the whole batch: fewer blobs than stored files, since the two patches share one.
    [(files, distinct)] = query(
        database_url,
        "select count(*), count(distinct sha256) from attempt_artifacts where batch_id = :b and not skipped",
        b=batch,
    )
    assert distinct == files - 1


def test_db_upgrade_then_run_and_an_unmigrated_database_is_refused(
    repo: Path, scratch_database: Callable[[], str]
) -> None:
    # Trust auth ignores the password, so it can be a secret that must never be printed.
    # A worker never creates the schema (`run` and `plan` do: tests/e2e/postgres/test_fresh_database.py).
    url = make_url(scratch_database()).set(password="s3cr3t-pw").render_as_string(hide_password=False)
    refused = cli("worker", "--database-url", url, "--batch", "x", cwd=repo)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "parallel-runs db upgrade --database-url" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    upgraded = cli("db", "upgrade", "--database-url", url, cwd=repo)
    assert upgraded.returncode == 0, upgraded.stderr
    done = cli(
        "run", "--database-url", url, "--run-ids", "x,y", "--workers", "2", "--command", "true", cwd=repo
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bad_host = url.replace("127.0.0.1", "127.0.0.2").replace("localhost", "127.0.0.2")
    unreachable = cli("run", "--database-url", bad_host, "--run-ids", "z", "--command", "true", cwd=repo)
    assert unreachable.returncode == 2
    for said in (refused, upgraded, done, unreachable):
        assert "s3cr3t-pw" not in said.stdout + said.stderr


def test_a_postgresql_restart_during_a_batch_loses_nothing(repo: Path, tmp_path: Path) -> None:
    # A private cluster: restarting the shared one would break the other xdist workers' tests.
    with private_server() as server:
        _restart_during_a_batch_loses_nothing(repo, tmp_path, server)


def _restart_during_a_batch_loses_nothing(repo: Path, tmp_path: Path, server: PrivateServer) -> None:
    database_url = server.url
    batch, started = batch_id(), tmp_path / "started"
    command = f"touch {started}; echo x > x.txt; sleep 0.5"
    runner = start_cli(
        *shared_run(database_url, batch, "pg{01..10}"),
        "--workers",
        "2",
        "--command",
        command,
        cwd=repo,
    )
    wait_for(started.exists, what="the batch to start")
    assert runner.poll() is None  # the restart happens while the batch is still working
    server.restart()
    out, err = finish(runner, timeout=300)
    assert runner.returncode == 0, out + err
    data = report_json(repo, database_url, batch)
    assert data["counts"] == {"succeeded": 10}


@pytest.mark.parametrize("missing", ["--batch", "--database-url"])
def test_worker_needs_a_batch_and_a_shared_store(repo: Path, database_url: str, missing: str) -> None:
    args = {"--batch": ["--batch", "nope"], "--database-url": ["--database-url", database_url]}
    given = [arg for flag, values in args.items() if flag != missing for arg in values]
    done = cli("worker", *given, cwd=repo, env={"DATABASE_URL": "", "PARALLEL_RUNS_DATABASE_URL": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert missing in done.stderr


def test_worker_on_an_unknown_batch_is_a_usage_error(repo: Path, database_url: str) -> None:
    done = cli("worker", "--batch", "no-such-batch", "--database-url", database_url, cwd=repo)
    assert done.returncode == 2
    assert "no-such-batch" in done.stderr


def enqueue(url: str, *, batch: str, run_ids: tuple[str, ...], command: str, base_sha: str) -> None:
    """Put a batch in the shared store without working it (as `run --database-url` does first)."""
    definition = BatchDefinition(
        batch_id=batch, run_ids=run_ids, command=CommandSpec(shell=command), base_sha=base_sha
    )
    with SharedStore.connect(url) as store:
        store.create_batch(definition)


def test_a_worker_fetches_a_missing_base_commit_or_stops_with_a_clear_error(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    helper = clone(repo, "clone-early")  # cloned before the commit the batch will run on
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "--quiet", "-m", "the batch's base")
    base = git(repo, "rev-parse", "HEAD")
    batch = batch_id()
    enqueue(database_url, batch=batch, run_ids=("f1",), command="test -f new.txt", base_sha=base)
    worked = cli("worker", "--batch", batch, "--database-url", database_url, cwd=helper)
    assert worked.returncode == 0, worked.stdout + worked.stderr  # fetched from origin, ran on new.txt
    assert report_json(helper, database_url, batch)["counts"] == {"succeeded": 1}

    # A commit that exists nowhere the worker can reach: it refuses instead of running another commit.
    other = batch_id()
    enqueue(database_url, batch=other, run_ids=("g1",), command="true", base_sha="0123456789" * 4)
    refused = cli("worker", "--batch", other, "--database-url", database_url, cwd=helper)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "could not be fetched" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def skipped_runs(events: str) -> list[str]:
    lines = [json.loads(line) for line in events.splitlines()]
    return sorted(str(line["run_id"]) for line in lines if line["event"] == "run_skipped")


def test_resume_rules_apply_to_shared_batches(repo: Path, tmp_path: Path, database_url: str) -> None:
    ledger, fixed, prefix = tmp_path / "ledger", tmp_path / "fixed", secrets.token_hex(3)
    ok, bad, new = f"{prefix}-ok", f"{prefix}-bad", f"{prefix}-new"
    command = f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}; '
    command += f'case "$PARALLEL_RUNS_RUN_ID" in *-bad) [ -e {fixed} ];; esac'

    def run(batch: str, ids: str, *flags: str) -> list[str]:
        """Run the batch; return the runs it skipped."""
        done = cli(
            *shared_run(database_url, batch, ids), *flags, "--json-events", "--command", command, cwd=repo
        )
        assert done.returncode == (1 if not fixed.exists() else 0), done.stdout + done.stderr
        return skipped_runs(done.stdout)

    def ran() -> list[str]:
        ran = ledger.read_text().split()
        ledger.unlink()
        return sorted(ran)

    assert run(batch_id(), f"{ok},{bad}") == []
    assert ran() == [bad, ok]
    fixed.touch()
    # A new batch of the same runs: the one that succeeded is skipped, the failed one runs again.
    again = batch_id()
    assert run(again, f"{ok},{bad}") == [ok]
    assert ran() == [bad]
    # The same batch again: nothing left to do; --redo runs everything again.
    assert run(again, f"{ok},{bad}") == []
    assert not ledger.exists()
    assert run(again, f"{ok},{bad}", "--redo") == []
    assert ran() == [bad, ok]
    # --only-failed: a run that never ran is skipped too.
    assert run(batch_id(), f"{ok},{bad},{new}", "--only-failed") == sorted([bad, new, ok])
    assert not ledger.exists()
