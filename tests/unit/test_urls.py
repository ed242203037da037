"""mask_url: database URLs with every password hidden, without parsing them."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_runs.core.urls import mask_url, url_passwords

SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        (
            "postgresql+psycopg2://user:pw@host:5432/db?x=y",
            "postgresql+psycopg2://user:***@host:5432/db?x=y",
        ),
        ("postgresql://:pw@host/db", "postgresql://:***@host/db"),
        ("://:pw@host", "://:***@host"),
        ("postgresql://user:p@ss:w@rd@host/db", "postgresql://user:***@host/db"),  # unescaped @ and :
        (
            "postgresql://u@h/db?sslmode=require&password=pw",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        ("postgresql://u:pw@h/db?password=pw", "postgresql://u:***@h/db?password=***"),
        ("cannot reach postgresql://u:pw@h/db (timeout)", "cannot reach postgresql://u:***@h/db (timeout)"),
    ],
)
def test_passwords_are_hidden(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@host/db",
        "postgresql://host:5432/db",
        "postgresql://host:5432/db?note=a@b",  # a port is not a password, nor is a later `@`
        "postgresql+psycopg2://u@h:5432/db?x=y",
        "sqlite:///runs/store.db",
        "postgresql:///db",
        "not a url at all",
    ],
)
def test_urls_without_a_password_are_untouched(url: str) -> None:
    assert mask_url(url) == url


@given(st.text(min_size=1), st.sampled_from(["", "user", "u%40x"]))
def test_any_escaped_password_is_hidden(password: str, user: str) -> None:
    url = f"postgresql+psycopg2://{user}:{quote(password, safe='')}@host:5432/db?x=y"
    assert mask_url(url) == f"postgresql+psycopg2://{user}:***@host:5432/db?x=y"


def test_garbage_after_the_url_does_not_leak_the_password() -> None:
    assert SECRET not in mask_url(f"postgresql://u:{SECRET}@h/db with garbage")
    assert SECRET not in mask_url(f"postgresql://u@h/db?password={SECRET}&sslmode=require")


def test_objects_are_masked_through_their_str() -> None:
    class Url:
        def __str__(self) -> str:
            return f"postgresql://u:{SECRET}@h/db"

    assert mask_url(Url()) == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "passwords"),
    [
        ("postgresql://user:pw@host/db", ["pw"]),
        ("postgresql://user@host/db", []),
        ("postgresql://u:p%40ss+w@h/db", ["p%40ss+w", "p@ss+w", "p@ss w"]),
        ("postgresql://u@h/db?sslmode=require&password=q", ["q"]),
    ],
)
def test_url_passwords_finds_what_must_be_masked(url: str, passwords: list[str]) -> None:
    assert url_passwords(url) == passwords


@pytest.mark.timeout(60)  # the quadratic scan took hours on this line; linear, it takes milliseconds
def test_a_one_megabyte_line_is_masked_in_linear_time() -> None:
    """A run that prints a 1 MB line of letters: the dashboard redacts its log and error tail."""
    line = "L" * 1_000_000
    assert mask_url(line) == line
    assert mask_url(line + " postgresql://u:secret@h/db") == line + " postgresql://u:***@h/db"


def test_a_scheme_glued_to_other_text_is_still_masked() -> None:
    assert mask_url("url=postgresql://u:secret@h/db") == "url=postgresql://u:***@h/db"
    assert mask_url("(x.postgres://a:b@c)") == "(x.postgres://a:***@c)"
