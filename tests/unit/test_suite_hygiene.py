"""What keeps the suite safe on several xdist workers at once (`make test`, `make chaos-quick`): no
test stops the shared PostgreSQL server, and no two tests find or kill processes by one name."""

from __future__ import annotations

import ast
import gc
import re
import warnings
from collections import defaultdict
from pathlib import Path

from tests.helpers import STARTED, reap_started, start_cli

TESTS = Path(__file__).resolve().parents[1]
# A `sleep NN.NNN` (or a "NN.NNN" literal) whose command line a test finds with processes_with, or
# hands to the markers fixture (which kills every process with it at teardown, whoever started it).
MARKER = re.compile(r'(?:sleep[ (]|")(\d{2,}\.\d{3,})(?![\d{])')


def _modules() -> list[Path]:
    """The test modules `make test` runs (the chaos suite is not among them)."""
    return [path for path in TESTS.rglob("*.py") if "chaos" not in path.relative_to(TESTS).parts]


def test_no_test_stops_the_shared_server() -> None:
    # A test that stops a server stops its own (tests/integration/postgres/private_server.py); the
    # helper that starts the shared one when it is down is the only other caller of pg_ctlcluster.
    stoppers = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("*.py")
        if path != Path(__file__).resolve()
        and re.search(r"pg_ctlcluster[^\n]*\b(stop|restart)\b|\bpg_ctl\(", path.read_text())
    ]
    assert stoppers == []


def test_each_process_marker_belongs_to_one_test() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef):
                for marker in MARKER.findall(ast.get_source_segment(source, node) or ""):
                    owners[marker].add(f"{path.relative_to(TESTS).as_posix()}::{node.name}")
    shared = {marker: sorted(tests) for marker, tests in owners.items() if len(tests) > 1}
    assert shared == {}


def test_a_parametrized_test_uses_no_fixed_process_marker() -> None:
    # Its cases may run at once on two workers: each must find (and kill) only its own processes.
    fixed = []
    for path in _modules():
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                decorators = " ".join(ast.get_source_segment(source, d) or "" for d in node.decorator_list)
                found = set(MARKER.findall(ast.get_source_segment(source, node) or ""))
                if ("parametrize" in decorators or "MODES" in decorators) and len(found) == 1:
                    fixed.append(f"{path.relative_to(TESTS).as_posix()}::{node.name}")
    assert fixed == []


def test_what_a_test_left_running_is_killed_and_waited_for_at_its_end(repo: Path) -> None:
    # A test that fails between start_cli and its wait must not leave a running Popen to be
    # garbage-collected in the next test on the worker (a ResourceWarning, an error there).
    process = start_cli("run", "--run-ids", "left", "--command", "sleep 60.4471", cwd=repo)
    reap_started()  # what the autouse fixture does at every test's end
    assert process.returncode is not None
    assert process.stdout is not None
    assert process.stdout.closed
    assert STARTED == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.collect()
