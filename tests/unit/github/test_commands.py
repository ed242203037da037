"""Workflow commands: escaping, masks, groups, and at most 10 annotations per step."""

from __future__ import annotations

from parallel_runs.github import (
    MAX_ANNOTATIONS,
    Annotations,
    add_mask,
    annotation,
    end_group,
    group,
    stop_commands,
)


def test_messages_and_properties_are_escaped_as_the_runner_unescapes_them() -> None:
    assert annotation("error", "50% done\r\nnext line", title="run a:b,c") == (
        "::error title=run a%3Ab%2Cc::50%25 done%0D%0Anext line"
    )
    assert annotation("warning", "plain") == "::warning::plain"
    assert group("exp-1 \u00b7 failed\n::endgroup::") == "::group::exp-1 \u00b7 failed%0A::endgroup::"
    assert end_group() == "::endgroup::"


def test_a_mask_covers_every_line_of_a_value() -> None:
    assert add_mask("s3cret") == "::add-mask::s3cret"
    assert add_mask("line1\nline2\n") == "::add-mask::line1\n::add-mask::line2"
    assert add_mask("") == ""


def test_stop_commands_tokens_cannot_be_guessed() -> None:
    (start_a, end_a), (start_b, _) = stop_commands(), stop_commands()
    token = start_a.removeprefix("::stop-commands::")
    assert end_a == f"::{token}::"
    assert start_a != start_b
    assert len(token) > 32


def test_annotations_stop_at_ten_with_a_summary_of_the_rest() -> None:
    lines: list[str] = []
    annotations = Annotations(lines.append)
    for n in range(25):
        annotations.add("error", f"problem {n}", title=f"run {n}")
    annotations.close()
    assert len(lines) == MAX_ANNOTATIONS == 10
    assert lines[0] == "::error title=run 0::problem 0"
    assert lines[-1] == "::warning::and 16 more problems: see the log and the job summary"


def test_few_annotations_need_no_summary() -> None:
    lines: list[str] = []
    annotations = Annotations(lines.append)
    annotations.add("warning", "one")
    annotations.close()
    assert lines == ["::warning::one"]
