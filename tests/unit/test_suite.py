"""The test command: pytest detection, the report flag, `{junit}`, the baseline cache key (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.core.command import CommandSpec
from parallel_runs.core.junit import TestOutcome
from parallel_runs.core.suite import TestResults, TestSpec, baseline_key, is_pytest_command, render_test_argv

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


def test_junitxml_is_added_right_after_pytest() -> None:
    argv = render_test_argv(sh("python -m pytest -q tests && echo done"), junit=JUNIT)
    assert argv == [
        "bash",
        "-c",
        "python -m pytest '--junitxml=/runs/my run/ci/after.junit.xml' -q tests && echo done",
    ]


@pytest.mark.parametrize("flag", ["--junitxml=out.xml", "--junit-xml out.xml", "--junitxml {junit}"])
def test_a_command_naming_its_own_junitxml_is_left_alone(flag: str) -> None:
    argv = render_test_argv(sh(f"pytest {flag}"), junit=JUNIT)
    assert argv[2] == f"pytest {flag}".replace("{junit}", "'/runs/my run/ci/after.junit.xml'")


def test_junit_placeholder_is_shell_quoted_in_any_command() -> None:
    argv = render_test_argv(sh("./run-tests.sh --out {junit}"), junit=JUNIT)
    assert argv == ["bash", "-c", "./run-tests.sh --out '/runs/my run/ci/after.junit.xml'"]


def test_argv_commands() -> None:
    assert render_test_argv(CommandSpec(argv=("python3", "-m", "pytest", "-q")), junit=JUNIT) == [
        *("python3", "-m", "pytest", f"--junitxml={JUNIT}", "-q"),
    ]
    assert render_test_argv(CommandSpec(argv=("go-test", "--report={junit}")), junit=JUNIT) == [
        *("go-test", f"--report={JUNIT}"),
    ]
    assert render_test_argv(CommandSpec(argv=("pytest", "--junitxml", "x.xml")), junit=JUNIT) == [
        *("pytest", "--junitxml", "x.xml"),
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
    with_retries = TestSpec(command=spec.command, retries=3, timeout=5)
    assert baseline_key(base_sha=SHA, spec=with_retries, environ=env) == key
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
    missing = TestResults(phase="baseline", command="x", exit_code=None, outcomes=None, reason="no report")
    assert not missing.is_available
    assert TestResults.from_json(missing.to_json()) == missing
    with pytest.raises((TypeError, ValueError)):
        TestResults.from_json({"phase": "after", "command": "x", "tests": {"a": "exploded"}})


def test_a_junit_flag_mentioned_after_the_pytest_command_does_not_count() -> None:
    for text in ("pytest -q tests && echo --junit-xml-is-mentioned", "pytest -q tests # see --junitxml docs"):
        argv = render_test_argv(sh(text), junit=JUNIT)
        assert f"--junitxml={JUNIT}" in argv[2], text
    assert argv[2].count("--junitxml") == 2  # ours, and the comment's
