"""`--tasks FILE` through the CLI (issue #20 item 3): the ids come from a JSON Lines file, each run gets
its task as a file and as variables, its title names it in the reports, and a bad file is exit 2
naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli

TASKS = [
    {"id": "t-1", "title": "Fix the parser", "prompt": "It's broken; fix it.\nSecond line", "issue": 12},
    {"id": "a/b", "title": "Slashes in ids", "max-tokens": 1.5, "draft": True, "labels": ["x"]},
    {"id": "t-3", "extra": {"nested": 1}},
]
DUMP = (
    'env | grep "^PARALLEL_RUNS_TASK" | sort > "$PARALLEL_RUNS_ARTIFACTS_DIR/env.txt"; '
    'printf %s "${PARALLEL_RUNS_TASK_PROMPT-}" > "$PARALLEL_RUNS_ARTIFACTS_DIR/prompt.txt"; '
    'cat "$PARALLEL_RUNS_TASK" > task.txt'
)


def write_tasks(path: Path, tasks: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(task) + "\n" for task in tasks), encoding="utf-8")
    return path


def test_each_run_gets_its_task_file_and_variables(repo: Path, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    done = cli("run", "--tasks", str(tasks), "--command", DUMP, "-q", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = repo / ".autonomous_runs"
    first = (runs / "t-1" / "env.txt").read_text()
    # The file lives in the run's artifacts dir, outside its worktree.
    assert f"PARALLEL_RUNS_TASK={runs / 't-1' / 'task.json'}\n" in first
    assert "PARALLEL_RUNS_TASK_ID=t-1\n" in first
    assert "PARALLEL_RUNS_TASK_TITLE=Fix the parser\n" in first
    assert "PARALLEL_RUNS_TASK_ISSUE=12\n" in first
    assert (runs / "t-1" / "prompt.txt").read_text() == "It's broken; fix it.\nSecond line"
    assert json.loads((runs / "t-1" / "task.json").read_text()) == TASKS[0]
    slashes = next(p for p in runs.iterdir() if p.name.startswith("a-b-"))
    second = (slashes / "env.txt").read_text()
    assert "PARALLEL_RUNS_TASK_MAX_TOKENS=1.5\n" in second  # non-alphanumerics become _
    assert "DRAFT" not in second  # only strings and numbers become variables
    assert "LABELS" not in second
    assert "EXTRA" not in (runs / "t-3" / "env.txt").read_text()
    # The run saw the same JSON (its worktree's change is the copy).
    patch = (runs / "t-1" / "changes.patch").read_text()
    assert '+  "prompt": "It\'s broken; fix it.\\nSecond line",' in patch

    report = cli("report", "--format", "json", cwd=repo)
    rows = {row["run_id"]: row for row in json.loads(report.stdout)["runs"]}
    assert rows["t-1"]["title"] == "Fix the parser"
    assert rows["a/b"]["title"] == "Slashes in ids"
    assert "title" not in rows["t-3"]
    table = cli("report", "--format", "markdown", cwd=repo)
    assert "| `t-1` | Fix the parser | \u2705 succeeded |" in table.stdout
    page = cli("report", "--format", "html", cwd=repo).stdout  # the dashboard's batch template
    assert "<th>title</th>" in page
    assert "<td>Fix the parser</td>" in page


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"id": "a"}\nnot json\n', "line 2: not JSON"),
        ('{"id": "a"}\n\n["b"]\n', "line 3: a task is a JSON object"),
        ('{"title": "no id"}\n', "line 1: a task needs an `id`"),
        ('{"id": true}\n', "line 1: a task needs an `id`"),
        (
            '{"id": "a"}\n{"id": "b"}\n{"id": "a", "title": "again"}\n',
            "line 3: task id 'a' is already used on line 1",
        ),
        ('{"id": ".."}\n', "line 1: "),
        ("\n\n", "no tasks"),
    ],
)
def test_a_bad_tasks_file_is_exit_2_naming_the_line(repo: Path, tmp_path: Path, text: str, said: str) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(text, encoding="utf-8")
    for command in ("run", "plan"):
        done = cli(command, "--tasks", str(tasks), "--command", "true", cwd=repo)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"--tasks {tasks}" in done.stderr
        assert said in done.stderr
        assert "Traceback" not in done.stderr
    assert not (repo / ".autonomous_runs" / "a").exists()  # nothing ran


def test_tasks_stand_instead_of_run_ids_and_a_missing_file_is_named(repo: Path, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS[:1])
    both = cli("run", "--tasks", str(tasks), "--run-ids", "x", "--command", "true", cwd=repo)
    assert both.returncode == 2
    assert "--tasks names the runs: give it instead of --run-ids and --run-ids-file" in both.stderr
    missing = cli("run", "--tasks", "nowhere.jsonl", "--command", "true", cwd=repo)
    assert missing.returncode == 2
    assert "cannot read --tasks nowhere.jsonl: No such file or directory" in missing.stderr


def test_plan_counts_the_tasks_and_a_shard_runs_its_share(repo: Path, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    planned = cli("plan", "--tasks", str(tasks), "--max-jobs", "2", cwd=repo)
    assert planned.returncode == 0, planned.stderr
    assert "run-count=3\n" in planned.stdout
    leg = cli("run", "--tasks", str(tasks), "--shard", "2/2", "--command", DUMP, "-q", cwd=repo)
    assert leg.returncode == 0, leg.stderr
    runs = repo / ".autonomous_runs"
    ran = [p.name for p in runs.iterdir() if (p / "env.txt").is_file()]
    assert len(ran) == 1
    assert ran[0].startswith("a-b-")  # shard 2 of 2: the second task only
    assert not (runs / "t-1").exists()
