"""The test command: pytest detection, where reports come from, `{junit}`, the baseline cache key (pure)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.junit import Failure, TestOutcome
from parallel_runs.core.suite import (
    TestResults,
    TestSpec,
    baseline_key,
    is_pytest_command,
    named_reports,
    pytest_addopts,
    render_test_argv,
    runs_unittest,
)

JUNIT = Path("/runs/my run/ci/after.junit.xml")
SHA = "0123456789abcdef0123456789abcdef01234567"


def sh(text: str) -> CommandSpec:
    return CommandSpec(shell=text)


@pytest.mark.parametrize(
    "command",
    [
        "pytest",
        "pytest -q tests",
        "  py.test -x",
        "python -m pytest",
        "python3 -m  pytest -q",
        "/venv/bin/python3.11 -m pytest",
        "exec pytest -q",
        "/usr/local/bin/pytest tests",
    ],
)
def test_pytest_commands_are_recognised(command: str) -> None:
    assert is_pytest_command(sh(command))


@pytest.mark.parametrize(
    "command",
    ["make test", "pytest-watch", "python -m pytest_foo", "npm test", "echo pytest", "tox -e pytest"],
)
def test_other_commands_are_not_pytest(command: str) -> None:
    assert not is_pytest_command(sh(command))


@pytest.mark.parametrize(
    "command",
    [
        "python -m pytest -q tests && echo done",
        "PYTHONPATH=src pytest",
        "make test",
        "pytest --junitxml=out.xml",
        "sh scripts/test.sh",
    ],
)
def test_a_test_command_is_never_rewritten(command: str) -> None:
    # The report comes through PYTEST_ADDOPTS, so whatever wraps pytest writes it.
    assert render_test_argv(sh(command), junit=JUNIT) == ["bash", "-c", command]


def test_pytest_addopts_add_the_report_to_what_the_user_set() -> None:
    ours = pytest_addopts(None, junit=JUNIT)
    assert shlex.split(ours) == ["-o", "junit_family=xunit1", f"--junitxml={JUNIT}"]
    assert shlex.split(pytest_addopts("-x -p no:cacheprovider", junit=JUNIT))[:3] == [
        *("-x", "-p", "no:cacheprovider"),
    ]


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("pytest -q --junitxml=report.xml", ("report.xml",)),
        ("PYTHONPATH=src pytest --junit-xml 'out/r.xml' && echo ok", ("out/r.xml",)),
        ("pytest --junitxml={junit}", ()),
        ('pytest --junitxml="$PARALLEL_RUNS_JUNIT"', ()),
        ("pytest --junitxml=/tmp/shared.xml", ()),  # absolute: concurrent runs would share it
        ("pytest --junitxml=../up.xml", ()),
        ("make test", ()),
    ],
)
def test_report_paths_the_command_names_itself(command: str, named: tuple[str, ...]) -> None:
    assert named_reports(sh(command)) == named
    spec = TestSpec(command=sh(command), reports=("build/test-results/**/*.xml",))
    assert spec.report_globs == ("build/test-results/**/*.xml", *named)


@pytest.mark.parametrize("glob", ["/abs/*.xml", "../x.xml", "a/../../b.xml", "", "~/r.xml"])
def test_a_report_glob_must_stay_inside_the_worktree(glob: str) -> None:
    with pytest.raises(ValueError, match="test report"):
        TestSpec(command=sh("pytest"), reports=(glob,))


def test_junit_placeholder_is_shell_quoted_in_any_command() -> None:
    argv = render_test_argv(sh("./run-tests.sh --out {junit}"), junit=JUNIT)
    assert argv == ["bash", "-c", "./run-tests.sh --out '/runs/my run/ci/after.junit.xml'"]


def test_argv_commands() -> None:
    assert render_test_argv(CommandSpec(argv=("python3", "-m", "pytest", "-q")), junit=JUNIT) == [
        *("python3", "-m", "pytest", "-q"),
    ]
    assert render_test_argv(CommandSpec(argv=("go-test", "--report={junit}")), junit=JUNIT) == [
        *("go-test", f"--report={JUNIT}"),
    ]


def test_baseline_key_depends_on_commit_command_and_relevant_environment() -> None:
    spec = TestSpec(command=sh("pytest -q"))
    env = {"PATH": "/bin", "HOME": "/root", "PARALLEL_RUNS_RUN_ID": "a"}
    key = baseline_key(base_sha=SHA, spec=spec, environ=env)
    assert key.startswith(SHA[:12] + "-")
    same = {"PATH": "/bin", "HOME": "/elsewhere", "PARALLEL_RUNS_RUN_ID": "b", "PARALLEL_RUNS_SLUG": "b"}
    assert baseline_key(base_sha=SHA, spec=spec, environ=same) == key  # run-specific/irrelevant vars
    assert baseline_key(base_sha=SHA, spec=spec, environ={**env, "PATH": "/usr/bin"}) != key
    assert baseline_key(base_sha=SHA, spec=spec, environ={**env, "PYTEST_ADDOPTS": "-x"}) != key
    other = TestSpec(command=sh("pytest -q -x"))
    assert baseline_key(base_sha=SHA, spec=other, environ=env) != key
    assert baseline_key(base_sha="f" * 40, spec=spec, environ=env) != key
    with_retries = TestSpec(command=spec.command, retries=3, timeout=5, allow_empty_baseline=True)
    assert baseline_key(base_sha=SHA, spec=with_retries, environ=env) == key
    with_reports = TestSpec(command=spec.command, reports=("report.xml",))
    assert baseline_key(base_sha=SHA, spec=with_reports, environ=env) != key
    custom = TestSpec(command=spec.command, key_env=("HOME",))
    assert baseline_key(base_sha=SHA, spec=custom, environ=env) != baseline_key(
        base_sha=SHA, spec=custom, environ=same
    )


@pytest.mark.parametrize("sha", ["", "../../etc", "HEAD", "ABCDEF0"])
def test_baseline_key_needs_a_commit_id(sha: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        baseline_key(base_sha=sha, spec=TestSpec(command=sh("pytest")), environ={})


@pytest.mark.parametrize(("retries", "timeout"), [(-1, None), (1, 0), (1, -5.0)])
def test_spec_validation(retries: int, timeout: float | None) -> None:
    with pytest.raises(ValueError, match="test"):
        TestSpec(command=sh("pytest"), retries=retries, timeout=timeout)


def test_results_round_trip_through_json() -> None:
    results = TestResults(
        phase="after",
        command="pytest",
        exit_code=1,
        outcomes={"a::b": TestOutcome.FAILED, "a::c": TestOutcome.PASSED},
        report_format="junit",
        failures={"a::b": Failure("a.py::b", "assert 1 == 2")},
    )
    document = results.to_json()
    assert document["counts"] == {
        "total": 2,
        "passed": 1,
        "failed": 1,
        "error": 0,
        "skipped": 0,
        "collection_error": 0,
    }
    assert TestResults.from_json(document) == results
    missing = TestResults(
        phase="baseline", command="x", exit_code=None, outcomes=None, reason="timed out", timed_out=True
    )
    assert not missing.is_available
    assert TestResults.from_json(missing.to_json()) == missing
    with pytest.raises((TypeError, ValueError)):
        TestResults.from_json({"phase": "after", "command": "x", "tests": {"a": "exploded"}})


REPORTER = Path("/r/plugins/parallel_runs_unittest.py")


@pytest.mark.parametrize(
    ("shell", "rendered"),
    [
        ("python -m unittest", f"python {REPORTER}"),
        ("cd a && python3.11 -m unittest -q t", f"cd a && python3.11 {REPORTER} -q t"),
        ("/v/bin/python3 -m unittest discover; echo", f"/v/bin/python3 {REPORTER} discover; echo"),
    ],
)
def test_python_m_unittest_runs_through_our_reporter(shell: str, rendered: str) -> None:
    spec = CommandSpec(shell=shell)
    assert runs_unittest(spec)
    assert render_test_argv(spec, junit=Path("/r/j.xml"), unittest_reporter=REPORTER) == [
        "bash",
        "-c",
        rendered,
    ]
    assert render_test_argv(spec, junit=Path("/r/j.xml")) == ["bash", "-c", shell]  # no reporter: as given


def test_only_unittest_itself_is_rewritten() -> None:
    others = ("pytest -q", "python -m unittest_extras", "mypython -m unittest", "echo python -m unittestx")
    for shell in others:
        assert not runs_unittest(CommandSpec(shell=shell)), shell
    argv = CommandSpec(argv=("python3", "-m", "unittest", "-v"))
    assert render_test_argv(argv, junit=Path("/j"), unittest_reporter=REPORTER) == [
        "python3",
        str(REPORTER),
        "-v",
    ]
    assert not runs_unittest(CommandSpec(argv=("python3", "-m", "pytest")))
