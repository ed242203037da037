"""Byte sizes as flags take them."""

from __future__ import annotations

import pytest

from parallel_runs.core.sizes import parse_size
from parallel_runs.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("50MiB", 50 * 1024**2),
        ("10MB", 10_000_000),
        ("512k", 512 * 1024),
        (" 1.5 GiB ", 1610612736),
    ],
)
def test_sizes_people_write(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-5", "ten", "5 parsecs", "1e9"])
def test_anything_else_is_a_config_error_naming_the_value(text: str) -> None:
    with pytest.raises(ConfigError, match="size"):
        parse_size(text)
