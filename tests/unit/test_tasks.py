"""core/tasks.py: what a task gives its run (variables, title), and the file's rules (issue #20 item 3)."""

from __future__ import annotations

import json

from parallel_runs.core.tasks import parse_tasks, task_environment, task_title


def test_each_string_or_number_field_is_a_variable_named_after_it() -> None:
    task = {
        "id": 7,
        "title": "T",
        "max-tokens": 2.5,
        "n": 3,
        "ok": True,
        "none": None,
        "list": [1],
        "ü x": "y",
    }
    env = task_environment(json.dumps(task), "/runs/7/task.json")
    assert env == {
        "PARALLEL_RUNS_TASK": "/runs/7/task.json",
        "PARALLEL_RUNS_TASK_ID": "7",
        "PARALLEL_RUNS_TASK_TITLE": "T",
        "PARALLEL_RUNS_TASK_MAX_TOKENS": "2.5",
        "PARALLEL_RUNS_TASK_N": "3",
        "PARALLEL_RUNS_TASK___X": "y",
    }


def test_a_nul_cannot_be_a_variable_but_stays_in_the_file() -> None:
    env = task_environment(json.dumps({"id": "a", "prompt": "a\0b"}), "/f")
    assert "PARALLEL_RUNS_TASK_PROMPT" not in env


def test_the_title_is_one_line_of_at_most_200_characters() -> None:
    assert task_title(json.dumps({"id": "a", "title": "  Fix\n the   parser "})) == "Fix the parser"
    assert task_title(json.dumps({"id": "a", "title": "x" * 300})) == "x" * 199 + "\u2026"
    assert task_title(json.dumps({"id": "a", "title": 5})) is None
    assert task_title(json.dumps({"id": "a"})) is None


def test_ids_keep_the_files_order_and_integers_become_text() -> None:
    ids, tasks = parse_tasks('{"id": "b"}\r\n\n{"id": 10, "x": {"y": 1}}\n', source="f")
    assert ids == ("b", "10")
    assert json.loads(tasks[1]) == {"id": 10, "x": {"y": 1}}
