"""cli/command_settings.py: what the commands' settings rely on of typing.NamedTuple."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli.command_settings import CommandSettings


class Settings(CommandSettings):
    """A command's settings."""

    repo: Path
    format: str
    older_than: float | None = None
    force: bool = False

    @property
    def label(self) -> str:
        return f"{self.repo.name}:{self.format}"


def test_fields_defaults_and_keywords_as_a_namedtuple() -> None:
    settings = Settings(repo=Path("/r"), format="json")
    assert settings == (Path("/r"), "json", None, False)
    assert Settings._fields == ("repo", "format", "older_than", "force")
    assert settings._replace(force=True).force is True
    assert Settings(Path("/r"), "table", 3.0).older_than == 3.0


def test_frozen_with_its_docstring_methods_and_module() -> None:
    settings = Settings(repo=Path("/r"), format="json")
    with pytest.raises(AttributeError):
        settings.format = "table"  # type: ignore[misc]
    assert settings.label == "r:json"
    assert Settings.__doc__ == "A command's settings."
    assert Settings.__module__ == __name__
    assert isinstance(settings, tuple)


def test_a_field_without_a_default_after_one_with_a_default_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        class Wrong(CommandSettings):
            first: int = 1
            second: int


def test_a_missing_field_is_a_type_error_as_for_a_namedtuple() -> None:
    with pytest.raises(TypeError):
        Settings(repo=Path("/r"))  # type: ignore[call-arg]
