"""No secret in what leaves (issue #16 items 11-12): the Redactor, the secrets a process knows, and
what a run's environment leaves out."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from parallel_runs.config.secrets import known_secrets, read_pass_env
from parallel_runs.core.command import RunContext, build_environment, inherited_environment
from parallel_runs.core.redaction import MIN_SECRET_LENGTH, Redactor, token_secrets
from parallel_runs.core.urls import without_password
from parallel_runs.errors import ConfigError
from parallel_runs.github.commands import Annotations

TOKEN = "ghs_tokenForTheRedactionTests0123"
PASSWORD = 'p&ss<w>rd"42'
STORE = "postgresql://postgres:S3cretStorePw@db.example:5432/runs"


def test_a_secret_is_hidden_as_written_and_as_the_renderers_encode_it() -> None:
    redact = Redactor([TOKEN, PASSWORD])
    text = f"{TOKEN} {PASSWORD} {html.escape(PASSWORD)} {json.dumps(PASSWORD)} p%26ss%3Cw%3Erd%2242"
    shown = redact(text)
    assert TOKEN not in shown
    assert "p&ss" not in shown
    assert "ss&lt;w" not in shown
    assert "p%26ss" not in shown
    assert shown.count("***") == 5


def test_the_longest_secret_goes_first_so_no_part_of_it_is_left() -> None:
    assert Redactor(["abcd", "abcdefgh"])("x abcdefgh y") == "x *** y"


def test_short_values_are_left_alone() -> None:
    # Hiding every "1" or "on" would wreck the text; no token or password of ours is that short.
    assert Redactor(["abc", "on"])("abc on cabaret") == "abc on cabaret"
    assert Redactor(["x" * MIN_SECRET_LENGTH])("xxxx") == "***"


def test_any_urls_password_is_hidden_even_when_unknown() -> None:
    assert Redactor()("see postgresql://u:hunter22@h/db") == "see postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (STORE, "postgresql://postgres@db.example:5432/runs"),
        ("postgresql://u:p@h/db?password=x&sslmode=require", "postgresql://u@h/db?sslmode=require"),
        ("postgresql://u@h/db?sslmode=require&password=x", "postgresql://u@h/db?sslmode=require"),
        ("sqlite:////tmp/runs/a.db", "sqlite:////tmp/runs/a.db"),
    ],
)
def test_the_url_a_run_gets_has_no_password(url: str, expected: str) -> None:
    assert without_password(url) == expected


def test_the_process_knows_every_token_and_password_of_its_environment() -> None:
    environ = {
        "GITHUB_TOKEN": TOKEN,
        "GH_TOKEN": "gho_otherToken1234",
        "PARALLEL_RUNS_GITHUB_TOKEN": "ghs_inputToken5678",
        "ACTIONS_RUNTIME_TOKEN": "eyJhbGciOiJSUzI1NiJ9.runtime",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example/abc?x=1",
        "ACTIONS_STEP_DEBUG": "true",  # a switch, not a secret
        "PARALLEL_RUNS_DATABASE_URL": STORE,
        "DATABASE_URL": "postgresql://app:AppPassw0rd@db/app",
        "HOME": "/home/runner",
    }
    known = known_secrets(environ, urls=["postgresql://u:FlagPassw0rd@h/db"])
    expected = {
        *token_secrets(TOKEN),  # and the push header made of it
        "gho_otherToken1234",
        "ghs_inputToken5678",
        "eyJhbGciOiJSUzI1NiJ9.runtime",
        "https://token.actions.example/abc?x=1",
        "S3cretStorePw",
        "AppPassw0rd",
        "FlagPassw0rd",
    }
    assert expected <= known
    assert "true" not in known
    assert "/home/runner" not in known


def _context(database_url: str, pass_env: frozenset[str] = frozenset()) -> RunContext:
    where = Path("/tmp/w")
    return RunContext(
        run_id="r",
        slug="r",
        batch_id="b",
        attempt=1,
        workspace=where,
        artifacts_dir=where,
        runs_dir=where,
        base_sha="a" * 40,
        database_url=database_url,
        pass_env=pass_env,
    )


RUNNER = {
    "GITHUB_OUTPUT": "/runner/_output",
    "GITHUB_ENV": "/runner/_env",
    "GITHUB_PATH": "/runner/_path",
    "GITHUB_STEP_SUMMARY": "/runner/_summary",
    "GITHUB_STATE": "/runner/_state",
    "GITHUB_TOKEN": TOKEN,
    "GH_TOKEN": "gho_x1234",
    "PARALLEL_RUNS_GITHUB_TOKEN": "ghs_y1234",
    "ACTIONS_RUNTIME_TOKEN": "rt",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "idt",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://id",
    "ACTIONS_CACHE_URL": "https://cache",
    "GITHUB_SHA": "f" * 40,
    "HOME": "/home/runner",
    "DATABASE_URL": "postgresql://app:AppPassw0rd@db/app",  # the user's application's: it reaches the run
}


def test_a_run_gets_no_control_file_token_or_store_password() -> None:
    env = build_environment(RUNNER, _context(STORE))
    withheld = {
        key for key in RUNNER if key.startswith(("GITHUB_", "GH_", "ACTIONS_", "PARALLEL_RUNS_GITHUB"))
    }
    assert set(env) & withheld == {"GITHUB_SHA"}
    assert env["HOME"] == "/home/runner"
    assert env["DATABASE_URL"] == RUNNER["DATABASE_URL"]
    assert env["PARALLEL_RUNS_DATABASE_URL"] == "postgresql://postgres@db.example:5432/runs"


def test_a_run_gets_what_the_user_passes_by_name() -> None:
    passed = frozenset({"GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "PARALLEL_RUNS_DATABASE_URL"})
    env = build_environment(RUNNER, _context(STORE, passed))
    assert env["GITHUB_TOKEN"] == TOKEN
    assert env["ACTIONS_RUNTIME_TOKEN"] == "rt"
    assert env["PARALLEL_RUNS_DATABASE_URL"] == STORE
    assert "GITHUB_OUTPUT" not in env
    assert "GITHUB_OUTPUT" not in inherited_environment(RUNNER, passed)


def test_pass_env_takes_names_separated_by_commas_from_the_flag_or_its_variable() -> None:
    flags = {"pass_env": ["GITHUB_TOKEN,GH_TOKEN", "ACTIONS_RUNTIME_TOKEN"]}
    assert read_pass_env(flags, {}) == {"GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN"}
    assert read_pass_env({}, {"PARALLEL_RUNS_PASS_ENV": "GITHUB_TOKEN, GH_TOKEN"}) == {
        "GITHUB_TOKEN",
        "GH_TOKEN",
    }
    with pytest.raises(ConfigError, match="'A=B' is not a variable name"):
        read_pass_env({"pass_env": ["A=B"]}, {})


def test_annotations_are_redacted_before_they_are_escaped() -> None:
    lines: list[str] = []
    annotations = Annotations(lines.append, redact=Redactor(["sec%ret\nvalue"]))
    annotations.add("error", "printed sec%ret\nvalue", title="run sec%ret\nvalue")
    assert lines == ["::error title=run ***::printed ***"]
