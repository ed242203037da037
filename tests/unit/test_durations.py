"""Durations: parsing `--timeout` values and formatting elapsed times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_runs.core.durations import MAX_DURATION, format_duration, parse_duration
from parallel_runs.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("2.5", 2.5),
        ("500ms", 0.5),
        ("2s", 2.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2d", 172_800.0),
        ("1.5h", 5400.0),
        ("1d2h3m4s5ms", 93_784.005),
        ("3m05s", 185.0),
        ("  2s\n", 2.0),
        ("365d", MAX_DURATION),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "abc",
        "-x",
        "1e3",
        "inf",
        "nan",
        "5M",
        "2x",
        "1h 30m",
        "30m1h",
        "1m1m",
        "1.",
        ".5",
        "s",
        "٣",
    ],
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "500ms" in message
    assert "1h30m" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["0", "0.0", "0s", "0ms", "0h0m", "-5", "-1s", "-1h30m", "-0"])
def test_parse_duration_rejects_zero_and_negative_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="greater than zero"):
        parse_duration(text)


def test_the_error_names_the_flag_when_given() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration("-5s", name="--timeout")
    assert str(caught.value) == "--timeout: invalid duration '-5s': it must be greater than zero"


@pytest.mark.parametrize("text", ["366d", "9" * 400])
def test_parse_duration_rejects_absurd_lengths(text: str) -> None:
    with pytest.raises(ConfigError, match="at most 365d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0.0s"),
        (1.25, "1.2s"),
        (1.2, "1.2s"),
        (59.94, "59.9s"),
        (59.96, "1m00s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (3599.4, "59m59s"),
        (3599.6, "1h00m"),
        (3725, "1h02m"),
        (90_000, "25h00m"),
        (-3, "-3.0s"),
        (float("inf"), "inf"),
        (None, "-"),  # unknown, as the report shows it
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0.1, max_value=MAX_DURATION))
def test_formatted_durations_parse_back(seconds: float) -> None:
    tolerance = 0.05 if seconds < 60 else 0.5 if seconds < 3600 else 60
    # + 1e-9: 0.75 shows as 0.8s, 0.05 away, which floats make 0.05000000000000004
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=tolerance + 1e-9)


@given(st.integers(0, 300), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_compound_durations_add_up(days: int, hours: int, minutes: int, seconds: int) -> None:
    total = days * 86_400 + hours * 3600 + minutes * 60 + seconds
    if total:
        assert parse_duration(f"{days}d{hours}h{minutes}m{seconds}s") == total
