"""The gate judges in the user's own set-up (issue #17): any test command, a crashed command by its
own output. Real git, real pytest and unittest, in-memory records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from parallel_runs.batch import SkippedRun
from parallel_runs.config import BatchToQueue
from parallel_runs.core.model import Outcome
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError
from parallel_runs.report import build_rows, render_markdown
from parallel_runs.store import MemoryStore
from tests.integration.test_engine import run, settings_for
from tests.integration.test_test_gate import final, run_batch, sh

UNITTEST_FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import unittest\n\nfrom calc import add, sub\n\n\n"
        "class TestCalc(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_sub(self):\n        self.assertEqual(sub(2, 2), 0)\n\n"
        "    def test_values(self):\n"
        "        for n in range(3):\n            with self.subTest(n=n):\n"
        "                self.assertEqual(add(n, 0), n)\n"
    ),
}
BREAK_ADD = "sed -i 's/a + b/a * b/' calc.py"


@pytest.mark.parametrize(
    "test_command",
    ["python3 -m unittest discover -s tests -t .", "cd . && python3 -m unittest -q tests.test_calc"],
)
def test_a_unittest_suite_is_judged_per_test_with_node_ids(
    make_repo: Callable[..., Path], test_command: str
) -> None:
    repo = make_repo("calc", UNITTEST_FILES)
    command = f'test "$PARALLEL_RUNS_RUN_ID" = same || {BREAK_ADD}'
    result = run_batch(repo, command, test_command, run_ids=("break", "same"))
    broken, same = final(result, "break"), final(result, "same")
    assert same.outcome is Outcome.SUCCEEDED
    assert broken.outcome is Outcome.REGRESSED
    assert broken.tests is not None
    assert sorted(broken.tests.new_failures) == [
        "tests/test_calc.py::TestCalc::test_add",
        "tests/test_calc.py::TestCalc::test_values",
    ]
    markdown = render_markdown(build_rows([broken, same]))
    assert "`tests/test_calc.py::TestCalc::test_add`: AssertionError: 6 != 5" in markdown


CHECK_SCRIPT = "#!/bin/sh\ngrep -q 'a + b' calc.py || { echo 'check: add is broken'; exit 1; }\n"  # no report


def test_a_command_without_a_report_is_judged_by_its_exit_status(make_repo: Callable[..., Path]) -> None:
    repo = make_repo("calc", {**UNITTEST_FILES, "check.sh": CHECK_SCRIPT})
    command = f'test "$PARALLEL_RUNS_RUN_ID" = same || {BREAK_ADD}'
    result = run_batch(repo, command, "sh check.sh", run_ids=("break", "same"))
    broken, same = final(result, "break"), final(result, "same")
    assert (same.outcome, same.tests and same.tests.status) == (Outcome.SUCCEEDED, "passed")
    assert broken.outcome is Outcome.REGRESSED
    assert broken.tests is not None
    assert broken.tests.status == "tests_failed"
    assert "exit 1" in (broken.tests.reason or "")
    assert "check: add is broken" in (broken.tests.reason or "")
    markdown = render_markdown(build_rows([broken, same]))
    assert "tests failed: `exit 1 (exit 0 at the base commit): check: add is broken`" in markdown
    assert result.exit_code == 1


def test_allow_empty_baseline_never_passes_a_failing_baseline(make_repo: Callable[..., Path]) -> None:
    repo = make_repo("calc", {**UNITTEST_FILES, "check.sh": "#!/bin/sh\necho nope; exit 1\n"})
    spec = TestSpec(command=sh("sh check.sh"), allow_empty_baseline=True)
    with pytest.raises(ConfigError) as stopped:
        run_batch(repo, "true", spec, run_ids=("r",))
    assert "failed (exit 1) and wrote no per-test report" in str(stopped.value)


def test_a_run_that_succeeded_under_another_test_command_is_listed_not_skipped_silently(repo: Path) -> None:
    store = MemoryStore()

    def judged(batch: str, tests: str | None, *, redo: bool = False) -> BatchToQueue:
        spec = None if tests is None else TestSpec(command=sh(tests))
        return settings_for(repo, ("r",), "true", batch_id=batch, tests=spec, redo=redo)

    assert run(store, judged("b1", None)).exit_code == 0
    [untested] = run(store, judged("b2", "grep -q add app/calc.py")).ends
    assert isinstance(untested, SkippedRun)
    assert "without a test command (use --redo to judge it with this one)" in untested.reason
    assert run(store, judged("b3", "grep -q add app/calc.py", redo=True)).exit_code == 0
    [other] = run(store, judged("b4", "grep -q def app/calc.py")).ends
    assert isinstance(other, SkippedRun)
    assert "under another test command or test settings `grep -q add app/calc.py`" in other.reason
    assert "use --redo to judge it again" in other.reason
    [same] = run(store, judged("b5", "grep -q add app/calc.py")).ends
    assert isinstance(same, SkippedRun)
    assert same.reason == "attempt 2 already succeeded (use --redo to run it again)"
