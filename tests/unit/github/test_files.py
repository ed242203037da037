"""Step outputs: any value, multi-line or hostile, comes back exactly as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_runs.github import append_summary, format_outputs, write_outputs
from tests.action_harness import parse_output_file

VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=200)


@given(values=st.dictionaries(st.sampled_from(["matrix", "batch-id", "a_b", "x"]), VALUES, min_size=1))
def test_outputs_read_back_exactly_as_the_runner_reads_them(values: dict[str, str]) -> None:
    assert parse_output_file(format_outputs(values)) == values


def test_a_value_cannot_end_its_block_and_set_another_output() -> None:
    hostile = "x\nghadelimiter_\nstatus=success\nEOF\nstatus<<EOF\nsuccess"
    assert parse_output_file(format_outputs({"batch-id": hostile, "status": "failure"})) == {
        "batch-id": hostile,
        "status": "failure",
    }


@pytest.mark.parametrize("name", ["", "a<<b", "a=b", "a\nb"])
def test_bad_output_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="output name"):
        format_outputs({name: "v"})


def test_outputs_and_summary_are_appended(tmp_path: Path) -> None:
    output, summary = tmp_path / "out", tmp_path / "summary"
    output.write_text("earlier=1\n")
    write_outputs(output, {"run-count": "12"})
    append_summary(summary, "# one")
    append_summary(summary, "two\n")
    assert parse_output_file(output.read_text()) == {"earlier": "1", "run-count": "12"}
    assert summary.read_text() == "# one\ntwo\n"
