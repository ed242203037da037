"""Acceptance of `parallel-runs run` (issue #2), driving the real CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import cli, finish, git, processes_with, start_cli, wait_for


def branches(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/parallel-runs/")
    return sorted(out.splitlines())


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def result_of(runs_dir: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((runs_dir / slug / "result.json").read_text())
    return data


def test_four_runs_in_parallel_each_commit_their_output(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "a,b,c,d",
        "--workers",
        "4",
        "--command",
        'echo "$PARALLEL_RUNS_RUN_ID" > out.txt',
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert branches(repo) == ["parallel-runs/a", "parallel-runs/b", "parallel-runs/c", "parallel-runs/d"]
    runs_dir = repo / ".autonomous_runs"
    for run_id in "abcd":
        assert git(repo, "show", f"parallel-runs/{run_id}:out.txt") == run_id
        for name in ("run.log", "result.json", "changes.patch", f"{run_id}.db"):
            assert (runs_dir / run_id / name).is_file(), name
        assert f"+{run_id}" in (runs_dir / run_id / "changes.patch").read_text()
        assert result_of(runs_dir, run_id)["status"] == "succeeded"
        assert result_of(runs_dir, run_id)["changed_files"] == 1
    assert worktrees(repo) == [f"worktree {repo}"]
    assert not any((runs_dir / "workspaces").iterdir())
    # The runs really overlapped: the latest start comes before the earliest end.
    spans = []
    for run_id in "abcd":
        row = (
            sqlite3.connect(runs_dir / run_id / f"{run_id}.db")
            .execute("select started_at, finished_at from attempts")
            .fetchone()
        )
        spans.append((str(row[0]), str(row[1])))
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    # The runs dir is invisible to the user's own `git status`.
    assert git(repo, "status", "--porcelain") == ""


def test_workers_really_run_at_once(repo: Path, tmp_path: Path) -> None:
    # Each run waits until all four have started: with fewer than 4 at once this would time out.
    gate = tmp_path / "gate"
    gate.mkdir()
    command = (
        f'touch {gate}/"$PARALLEL_RUNS_RUN_ID"; '
        f'for i in $(seq 200); do [ "$(ls {gate} | wc -l)" -ge 4 ] && exit 0; sleep 0.05; done; exit 9'
    )
    done = cli("run", "--run-ids", "w{1..4}", "--workers", "4", "--command", command, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_failing_run_exits_1_and_keeps_its_changes(repo: Path) -> None:
    done = cli("run", "--run-ids", "bad", "--command", "echo half-done > work.txt; exit 3", cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    result = result_of(repo / ".autonomous_runs", "bad")
    assert result["status"] == "failed"
    assert result["exit_code"] == 3
    assert git(repo, "show", "parallel-runs/bad:work.txt") == "half-done"
    assert "failed" in git(repo, "log", "-1", "--format=%B", "parallel-runs/bad")


def test_timeout_kills_the_whole_process_group_and_saves_changes(repo: Path) -> None:
    marker = "61.2345"  # unique sleep duration, so we can find the processes in /proc
    command = f"echo partial > partial.txt; (sleep {marker} &); sleep {marker}"
    started = time.monotonic()
    done = cli("run", "--run-ids", "slow", "--timeout", "2s", "--command", command, cwd=repo)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert elapsed < 30, f"took {elapsed:.1f}s: the 2s timeout did not stop a 61s command"
    result = result_of(repo / ".autonomous_runs", "slow")
    assert result["status"] == "timed_out"
    assert float(str(result["duration_seconds"])) < 5  # ~2s timeout + stop + save, as recorded
    assert processes_with(f"sleep {marker}") == []
    assert git(repo, "show", "parallel-runs/slow:partial.txt") == "partial"


def test_second_run_of_a_live_run_exits_75_naming_the_holder(repo: Path, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    command = f"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done; echo first > first.txt"
    first = start_cli("run", "--run-ids", "dup", "--command", command, cwd=repo)
    try:
        wait_for(started.exists, what="the first run to start")
        second = cli("run", "--run-ids", "dup", "--command", "echo second > second.txt", cwd=repo)
        assert second.returncode == 75, second.stdout + second.stderr
        said = second.stdout + second.stderr
        assert socket.gethostname() in said
        assert f"pid {first.pid}" in said
        assert "since 20" in said  # an ISO timestamp of the holder's start
        release.touch()
        out, err = finish(first, timeout=60)
        assert first.returncode == 0, out + err
    finally:
        release.touch()
        first.kill() if first.poll() is None else None
    assert git(repo, "show", "parallel-runs/dup:first.txt") == "first"
    assert "second.txt" not in git(repo, "ls-tree", "-r", "--name-only", "parallel-runs/dup")


def test_kill_9_of_the_supervisor_is_recovered_by_the_next_run(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "started"
    marker = "62.3456"
    command = f"echo precious > unsaved.txt; touch {started}; sleep {marker}"
    victim = start_cli("run", "--run-ids", "crash", "--command", command, cwd=repo)
    wait_for(started.exists, what="the run to start")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    # Its shim sees the supervisor gone and kills the command; the worktree is left to the next run.
    wait_for(lambda: not processes_with(f"sleep {marker}"), what="the shim to stop the orphaned command")

    again = cli("run", "--run-ids", "crash", "--command", "echo second > second.txt", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert git(repo, "show", "refs/parallel-runs/attempts/crash/1:unsaved.txt") == "precious"
    assert "abandoned" in git(repo, "log", "-1", "--format=%B", "refs/parallel-runs/attempts/crash/1")
    assert git(repo, "show", "parallel-runs/crash:second.txt") == "second"
    assert result_of(repo / ".autonomous_runs", "crash")["attempt"] == 2
    rows = (
        sqlite3.connect(repo / ".autonomous_runs" / "crash" / "crash.db")
        .execute("select attempt, status from attempts order by attempt")
        .fetchall()
    )
    assert rows == [(1, "abandoned"), (2, "succeeded")]
    wait_for(
        lambda: not processes_with(f"sleep {marker}"), timeout=5, what="the orphaned command to be killed"
    )


def test_a_killed_batchs_stray_is_stopped_before_the_runs_next_attempt_even_with_its_worktree_gone(
    repo: Path, tmp_path: Path
) -> None:
    """A process outside the shim's tree that carries the run's environment (a tmux or screen server
    started it) outlives a kill -9 of its batch. The end-of-attempt scan reads only processes started
    since its attempt began; the recovery of a dead holder's run reads them all, worktree or not."""
    started, marker = tmp_path / "started", "64.7311"
    victim = start_cli("run", "--run-ids", "gone", "--command", f"touch {started}; sleep 60", cwd=repo)
    wait_for(started.exists, what="the run to start")
    workspace = repo / ".autonomous_runs" / "workspaces" / "gone"
    stray = subprocess.Popen(
        ["sleep", marker], cwd="/", env={**os.environ, "PARALLEL_RUNS_WORKSPACE": str(workspace)}
    )
    try:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        shutil.rmtree(workspace)
        git(repo, "worktree", "prune")
        wait_for(lambda: processes_with(f"sleep {marker}") == [stray.pid], what="the stray to run")
        again = cli("run", "--run-ids", "gone", "--command", "true", cwd=repo)
        assert again.returncode == 0, again.stdout + again.stderr
        assert stray.poll() is not None, "the killed batch's stray still runs"
    finally:
        stray.kill()
        stray.wait()


def test_hostile_run_ids_stay_inside_the_runs_dir(repo: Path, tmp_path: Path) -> None:
    # `..` itself is refused (only dots); every other hostile id gets a slug inside the runs dir.
    refused = cli("run", "--run-ids", "..", "--command", "true", cwd=repo)
    assert refused.returncode == 2
    assert "only dots" in refused.stderr
    ids = ["../x", "-rf", "a/b", "a-b", "a b", "ü", "x" * 128, "../../../../etc/passwd"]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    runs_dir = tmp_path / "runs"
    command = 'printf "%s\\n" "$PARALLEL_RUNS_WORKSPACE" "$PARALLEL_RUNS_ARTIFACTS_DIR" > paths.txt'
    done = cli(
        "run",
        "--run-ids-file",
        str(ids_file),
        "--runs-dir",
        str(runs_dir),
        "--workers",
        "4",
        "--command",
        command,
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    names = branches(repo)
    assert len(names) == len(ids)  # a/b and a-b did not collide
    for name in names:
        for path in git(repo, "show", f"{name}:paths.txt").splitlines():
            resolved = Path(path).resolve()
            assert resolved.is_relative_to(runs_dir.resolve()), path
            assert resolved != runs_dir.resolve(), path
    assert not (tmp_path / "x").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"repo", "runs", "ids.txt"}


def test_invalid_run_ids_exit_2_with_one_line(repo: Path, tmp_path: Path) -> None:
    # --run-ids and id files split on newlines, so a control character inside an id comes from a file.
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("good\nbad\tid\n")
    for args in (("--run-ids", ""), ("--run-ids", " , "), ("--run-ids-file", str(ids_file))):
        done = cli("run", *args, "--command", "true", cwd=repo)
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert branches(repo) == []


def test_relative_autonomous_runs_dir_gives_runs_absolute_paths(repo: Path) -> None:
    command = "env | grep -E '^(PARALLEL_RUNS_|AUTONOMOUS_RUNS_DIR)' | sort > env.txt"
    done = cli(
        "run", "--run-ids", "rel", "--command", command, cwd=repo, env={"AUTONOMOUS_RUNS_DIR": "relative/dir"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs_dir = repo / "relative" / "dir"
    assert (runs_dir / "rel" / "result.json").is_file()
    seen = dict(line.split("=", 1) for line in git(repo, "show", "parallel-runs/rel:env.txt").splitlines())
    assert seen["AUTONOMOUS_RUNS_DIR"] == str(runs_dir)
    for key in ("PARALLEL_RUNS_WORKSPACE", "PARALLEL_RUNS_ARTIFACTS_DIR", "AUTONOMOUS_RUNS_DIR"):
        assert Path(seen[key]).is_absolute(), key
    assert seen["PARALLEL_RUNS_DATABASE_URL"] == f"sqlite:///{runs_dir / 'rel' / 'rel.db'}"
    assert seen["PARALLEL_RUNS_ATTEMPT"] == "1"
    assert seen["PARALLEL_RUNS_BASE_SHA"] == git(repo, "rev-parse", "HEAD")
    assert "relative/" in git(repo, "check-ignore", "-v", "relative/dir/rel/result.json")


def test_argv_after_double_dash_and_placeholders(repo: Path) -> None:
    done = cli(
        "run", "--run-ids", "it's", "--", "bash", "-c", 'echo "$1" > argv.txt', "_", "{run_id}", cwd=repo
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = branches(repo)
    assert git(repo, "show", f"{name}:argv.txt") == "it's"
    ids_file = repo.parent / "ids.txt"
    ids_file.write_text("q u'ote $(touch pwned)\n")
    shell = cli("run", "--run-ids-file", str(ids_file), "--command", "echo {run_id} > id.txt", cwd=repo)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    quoted = [b for b in branches(repo) if b != name]
    assert git(repo, "show", f"{quoted[0]}:id.txt") == "q u'ote $(touch pwned)"
    assert "pwned" not in git(repo, "ls-tree", "-r", "--name-only", quoted[0])


def test_report_reads_every_run_store(repo: Path) -> None:
    cli("run", "--run-ids", "ok1,ok2", "--command", "true", cwd=repo)
    cli("run", "--run-ids", "ko", "--command", "exit 4", cwd=repo)
    done = cli("report", "--format", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    status = {row["run_id"]: row["status"] for row in data["runs"]}
    assert status == {"ok1": "succeeded", "ok2": "succeeded", "ko": "failed"}
    table = cli("report", cwd=repo, env={"COLUMNS": "200"})
    assert table.returncode == 0
    for word in ("ok1", "ok2", "ko", "succeeded", "failed"):
        assert word in table.stdout


def test_bad_usage_is_one_line_exit_2(repo: Path, tmp_path: Path) -> None:
    cases = [
        ("run", "--run-ids", "a"),  # no command
        ("run", "--run-ids", "a", "--command", "true", "--workers", "0"),
        ("run", "--run-ids", "a", "--command", "true", "--timeout", "soon"),
        ("run", "--run-ids", "a", "--command", "true", "--base-ref", "no-such-ref"),
        ("run", "--run-ids", "a", "--command", "true", "--source-repo", str(tmp_path)),
        ("run", "--run-ids-file", str(tmp_path / "missing.txt"), "--command", "true"),
        ("run", "--bogus-flag"),
    ]
    for args in cases:
        done = cli(*args, cwd=repo)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)


def test_python_dash_m_and_started_at_is_iso(repo: Path) -> None:
    variables = (
        "PARALLEL_RUNS_WORKSPACE",
        "PARALLEL_RUNS_ARTIFACTS_DIR",
        "AUTONOMOUS_RUNS_DIR",
        "PARALLEL_RUNS_DATABASE_URL",
    )
    command = "printf '%s\\n' " + " ".join(f'"${name}"' for name in variables) + " > seen.txt"
    done = cli("run", "--run-ids", "iso", "--command", command, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    result = result_of(repo / ".autonomous_runs", "iso")
    assert datetime.fromisoformat(str(result["started_at"])).tzinfo is not None
    assert result["host"] == socket.gethostname()
    # What the run's command saw: every path absolute, under the default runs dir of the repository.
    seen = dict(zip(variables, git(repo, "show", "parallel-runs/iso:seen.txt").splitlines(), strict=True))
    runs_dir = repo / ".autonomous_runs"
    assert seen == {
        "PARALLEL_RUNS_WORKSPACE": str(runs_dir / "workspaces" / "iso"),
        "PARALLEL_RUNS_ARTIFACTS_DIR": str(runs_dir / "iso"),
        "AUTONOMOUS_RUNS_DIR": str(runs_dir),
        "PARALLEL_RUNS_DATABASE_URL": f"sqlite:///{runs_dir / 'iso' / 'iso.db'}",
    }
    for name in variables:
        assert os.path.isabs(seen[name].removeprefix("sqlite:///")), (name, seen[name])


@pytest.mark.parametrize("timeout", [None, "30s"], ids=["in-the-worktree", "elsewhere-with-a-timeout"])
def test_no_process_a_run_started_outlives_it(repo: Path, timeout: str | None) -> None:
    marker = "301.2345" if timeout is None else "302.2345"
    where = "" if timeout is None else "cd / && "  # away from the worktree: found by its environment
    # The short sleep lets the daemon leave the group before the command ends (it did on a busy machine).
    daemon = f"({where}setsid sleep {marker} </dev/null >/dev/null 2>&1 &); sleep 0.3"
    extra = ("--timeout", timeout) if timeout else ()
    done = cli("run", "--run-ids", "daemon", *extra, "--command", daemon, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert processes_with(f"sleep {marker}") == []
    runs_dir = repo / ".autonomous_runs"
    assert result_of(runs_dir, "daemon")["stray_processes"] == 1
    assert "stopped 1 process(es) the run left behind: pid" in (runs_dir / "daemon" / "run.log").read_text()


def test_a_run_cannot_change_what_is_saved_by_editing_the_shared_exclude_file(repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    tamper = 'echo "*" >> "$(git rev-parse --git-common-dir)/info/exclude"; echo precious > new.txt'
    done = cli("run", "--run-ids", "tamper,after", "--workers", "1", "--command", tamper, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    for run_id in ("tamper", "after"):
        assert git(repo, "show", f"parallel-runs/{run_id}:new.txt") == "precious"
        assert result_of(repo / ".autonomous_runs", run_id)["restored_files"] == [str(exclude)]
    assert "*" not in exclude.read_text().splitlines()


def test_two_batches_in_one_checkout_keep_each_others_runs_dir_excluded(repo: Path, tmp_path: Path) -> None:
    # Matrix legs sharing a checkout: batch a's save came after batch b excluded its runs dir, and
    # "restored" the exclude file without b's line.
    started, b_done = tmp_path / "a-started", tmp_path / "b-done"
    wait = f"touch {started}; while [ ! -e {b_done} ]; do sleep 0.05; done; echo a > a.txt"
    first = start_cli("run", "--runs-dir", ".runs-a", "--run-ids", "a", "--command", wait, cwd=repo)
    try:
        wait_for(started.exists, what="batch a's run")
        second = cli(
            "run", "--runs-dir", ".runs-b", "--run-ids", "b", "--command", f"touch {b_done}", cwd=repo
        )
        assert second.returncode == 0, second.stdout + second.stderr
        out, err = finish(first, timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, out + err
    assert "restored" not in out + err
    assert result_of(repo / ".runs-a", "a")["restored_files"] == []
    assert {"/.runs-a/", "/.runs-b/"} <= set((repo / ".git" / "info" / "exclude").read_text().splitlines())
    assert git(repo, "status", "--porcelain") == ""


def test_a_run_that_deletes_its_git_file_fails_and_keeps_its_files(repo: Path) -> None:
    done = cli("run", "--run-ids", "nogit", "--command", "rm .git; echo precious > keep.txt", cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    result = result_of(repo / ".autonomous_runs", "nogit")
    assert result["status"] == "failed"
    assert str(result["error"]).startswith("worktree_broken: the run removed")
    assert "is gone" not in done.stderr
    assert (repo / ".autonomous_runs" / "workspaces" / "nogit" / "keep.txt").read_text() == "precious\n"


def test_a_failed_run_says_why_in_its_event_line_and_every_report(repo: Path) -> None:
    command = 'echo working; echo "ERROR: cannot find module foo"; exit 3'
    done = cli("run", "--run-ids", "r3", "--retries", "1", "--command", command, cwd=repo)
    assert done.returncode == 1
    assert "│ ERROR: cannot find module foo" in done.stdout
    log = (repo / ".autonomous_runs" / "r3" / "run.log").read_text()
    assert [line.split(" · ")[0] for line in log.splitlines() if line.startswith("=== ")] == [
        "=== parallel-runs: attempt 1",
        "=== parallel-runs: attempt 2",
    ]
    reports = {fmt: cli("report", "--format", fmt, cwd=repo).stdout for fmt in ("json", "markdown", "html")}
    [row] = json.loads(reports["json"])["runs"]
    assert row["error_tail"] == "working\nERROR: cannot find module foo"  # attempt 2's part only
    assert "      ERROR: cannot find module foo" in reports["markdown"]
    assert "ERROR: cannot find module foo</pre>" in reports["html"]


def test_the_users_own_database_url_is_left_alone(repo: Path) -> None:
    mine = "postgresql://app:pw@db.example/app"
    command = 'echo "$DATABASE_URL" > app.txt; echo "$PARALLEL_RUNS_DATABASE_URL" > store.txt'
    done = cli("run", "--run-ids", "e1", "--command", command, cwd=repo, env={"DATABASE_URL": mine})
    assert done.returncode == 0, done.stdout + done.stderr  # it is not taken for the shared store
    assert git(repo, "show", "parallel-runs/e1:app.txt") == mine  # the run and its tests still see it
    assert git(repo, "show", "parallel-runs/e1:store.txt").startswith("sqlite:///")
