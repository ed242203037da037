"""Bad input is exit 2 with one line naming what is wrong (issue #9: some were exit 3, or accepted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main

POSTGRES = "postgresql://nobody@127.0.0.1:1/never-reached"


def bad_runs_dir(tmp_path: Path) -> str:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return str(a_file)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--runs-dir", "FILE"], "runs dir"),
        (["--runs-dir", "/proc/nope"], "runs dir /proc/nope cannot be used"),
        (["--runs-dir", "/sys/kernel/nope"], "runs dir /sys/kernel/nope cannot be used"),
        (["--batch-id", "b" * 200], "invalid batch id"),
        (["--batch-id", "two\nlines"], "invalid batch id"),
        (["--batch-id", "b" * 200, "--database-url", POSTGRES], "invalid batch id"),
        (["--timeout", ""], "invalid duration ''"),
        (["--database-url", POSTGRES, "--lease-ttl", "0.001s"], "--lease-ttl 0.001s: at least 5s"),
        (["--lease-ttl", "30s"], "--lease-ttl applies to the shared PostgreSQL store only"),
        # issue #16: "must be 0 or more" though 0 is refused; negative durations got argparse's
        # "expected one argument", naming no rule.
        (["--workers", "-3"], "--workers must be 1 or more, got -3"),
        (["--workers", "0"], "--workers must be 1 or more, got 0"),
        (["--halt-on-failure", "-1"], "--halt-on-failure must be 1 or more, got -1"),
        (["--timeout", "-5s"], "--timeout: invalid duration '-5s': it must be greater than zero"),
        (["--grace", "-1"], "--grace: invalid duration '-1': it must be greater than zero"),
        (["--max-batch-time", "-1h30m"], "--max-batch-time: invalid duration '-1h30m': it must be greater"),
        (["--retry-delay=-2m"], "--retry-delay: invalid duration '-2m': it must be greater than zero"),
    ],
    ids=[
        "file",
        "proc",
        "sys",
        "long-batch",
        "newline-batch",
        "long-batch-pg",
        "empty-timeout",
        "ttl",
        "ttl-local",
        "negative-workers",
        "zero-workers",
        "negative-halt",
        "negative-timeout",
        "negative-grace",
        "negative-budget",
        "negative-delay-with-equals",
    ],
)
def test_bad_run_input_is_exit_2_and_one_line(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    extra: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(repo)
    extra = [bad_runs_dir(tmp_path) if arg == "FILE" else arg for arg in extra]
    code = main(["run", "--run-ids", "a", "--command", "true", "--quiet", *extra])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert said in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("ids", "said"),
    [
        ("a\u00a0b", "whitespace character '\\xa0'"),
        ("a\rb", "control or invisible character '\\r'"),
    ],
)
def test_only_commas_spaces_tabs_and_newlines_separate_run_ids(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ids: str, said: str
) -> None:
    monkeypatch.chdir(repo)
    assert main(["run", "--run-ids", ids, "--command", "true"]) == 2
    assert said in capsys.readouterr().err
