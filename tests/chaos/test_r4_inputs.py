"""R4: hypothesis-generated run ids and flag values through the CLI's parser and settings, in-process.

Each example is a whole `parallel-runs run` command line (hostile ids in --run-ids, random values
for every flag that takes one, the command as a string or after `--`), parsed by the real parser
and turned into the batch request by the real builder. A refusal must be a usage error (exit 2, one
line); anything else is a traceback. Every accepted run id's paths must stay inside the runs dir,
and its run branch and attempt ref must pass `git check-ref-format`.
"""

from __future__ import annotations

import os
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_runs.cli import build_parser, split_argv
from parallel_runs.config import BatchToQueue, build_batch_to_queue
from parallel_runs.core.ids import slugify
from parallel_runs.core.layout import RunPaths, attempt_ref
from parallel_runs.errors import EXIT_USAGE, ParallelRunsError
from tests.chaos.conftest import Figures, count

pytestmark = pytest.mark.chaos

# Pieces that broke (or could break) paths and refs: separators, traversal, git's forbidden
# sequences, braces, controls, invisible and look-alike characters, reserved names.
FRAGMENTS = [
    *("..", "../", "/", "\\", ".", "-", "_", ".lock", "@{", "@", "~", "^", ":", "?", "*", "[", "]"),
    *("{1..3}", "{a,b}", "{", "}", ",", " ", "\t", "\n", "\r", "\x00", "\x7f", "\x1b", "\u202e"),
    *("\u200b", "\ufeff", "\xa0", "\u2028", "\udcff", "ü", "名", "🙂", "HEAD", "workspaces", "baselines"),
    *(".git", "refs/heads/x", "a" * 120, "x.lock", "//", "/.", "./", "-rf", "$HOME", "`id`", "%s", "'"),
]
PRINTABLE = [
    piece
    for piece in FRAGMENTS
    if piece.isprintable()
    and "\\" not in repr(piece)
    and piece not in ("{", "}", "@{", ",", " ")
    and len(piece) < 20
]
RUN_ID = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), min_size=1, max_size=8).map("".join)
# Half the ids avoid what is refused outright, so that many hostile ids are accepted and checked.
ACCEPTABLE_ID = st.lists(
    st.sampled_from(PRINTABLE) | st.text(st.characters(categories=["L", "N", "P", "S"]), max_size=6),
    min_size=1,
    max_size=5,
).map("".join)
VALUE = (
    st.sampled_from(
        ["", "0", "-1", "1", "5", "5s", "4.9s", "1m", "2h30m", "1e309", "nan", "inf", "-0", "-5s", "-1h30m"]
    )
    | st.sampled_from(["10MiB", "0b", "1TB", "١٢", "9" * 30, "1,5", " 3 ", "--", "-x", "postgresql://"])
    | st.text(max_size=12)
    | st.integers(min_value=-(10**12), max_value=10**12).map(str)
)
PLAUSIBLE = {"--workers": "2", "--retries": "1", "--test-retries": "2", "--halt-on-failure": "3"}
PLAUSIBLE |= {"--max-artifact-size": "10MiB", "--setup-command": "true", "--test-command": "pytest -q"}
VALUED_FLAGS = [
    *("--workers", "--timeout", "--grace", "--retries", "--retry-delay", "--max-batch-time"),
    *("--test-timeout", "--test-retries", "--halt-on-failure", "--lease-ttl", "--max-artifact-size"),
    *("--batch-id", "--base-ref", "--setup-command", "--copy-ignored", "--test-command", "--keep-ignored"),
]
SWITCHES = ["--redo", "--only-failed", "--keep-worktrees", "--reuse-worktrees", "--dry-run", "--quiet"]
SWITCHES += ["--json-events"]
DATABASES = [None, "postgresql://u@127.0.0.1:1/x", "sqlite:///one.db", "mysql://x", "", "postgres://"]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """One `run` command line."""
    plausible = draw(st.integers(0, 3)) > 0  # else every value is drawn at random, most of them refused
    ids = draw(st.lists(ACCEPTABLE_ID if plausible else RUN_ID, min_size=1, max_size=4))
    argv = ["run", "--run-ids", draw(st.sampled_from([",", " ", "\n", ", "])).join(ids)]
    for flag in draw(st.lists(st.sampled_from(VALUED_FLAGS), max_size=4, unique=True)):
        duration = draw(st.sampled_from(["5s", "90s", "1m30s", "2h"]))
        argv += [flag, PLAUSIBLE.get(flag, duration) if plausible else draw(VALUE)]
        if flag == "--batch-id" and plausible:
            argv[-1] = draw(ACCEPTABLE_ID)
    argv += draw(st.lists(st.sampled_from(SWITCHES), max_size=2, unique=True))
    if "--lease-ttl" in argv and plausible:
        argv += ["--database-url", DATABASES[1]]
    elif (database := draw(st.sampled_from(DATABASES[:2] if plausible else DATABASES))) is not None:
        argv += ["--database-url", database]
    if draw(st.booleans()):
        return [*argv, "--", "echo", "{run_id}", draw(RUN_ID)]
    return [*argv, "--command", draw(st.sampled_from(["true", "echo {slug} > {workspace}/x", ""]))]


def _settings_of(argv: list[str], cwd: Path) -> BatchToQueue:
    own, command_argv = split_argv(argv)
    args = build_parser().parse_args(own)
    return build_batch_to_queue(flags={**vars(args), "command_argv": command_argv}, environ={}, cwd=cwd)


def _is_inside(path: Path, root: Path) -> bool:
    resolved, home = os.path.normpath(path), os.path.normpath(root)
    return resolved.startswith(home.rstrip("/") + "/") and "\0" not in resolved


def _paths_outside(runs_dir: Path, run_id: str, refs: dict[str, str]) -> list[Path]:
    """The run's paths not strictly inside the runs dir (its worktree: inside workspaces/); notes its refs."""
    paths = RunPaths(runs_dir, slugify(run_id))
    refs[f"refs/heads/{paths.branch}"] = run_id
    refs[attempt_ref(paths.slug, 1)] = run_id
    outside = [] if _is_inside(paths.workspace, runs_dir / "workspaces") else [paths.workspace]
    files = (paths.lock, paths.lease, paths.run_log, paths.result_json, paths.database, paths.delta_json)
    outside += [path for path in files if not _is_inside(path, runs_dir)]
    if paths.artifacts.parent != runs_dir or paths.artifacts.name in ("workspaces", "baselines"):
        outside.append(paths.artifacts)
    return outside


def _invalid_refs(refs: dict[str, str]) -> list[str]:
    """The refs `git check-ref-format` refuses (NUL-separated through xargs, two at a time)."""
    script = 'for r; do git check-ref-format "$r" || printf "%s\\0" "$r"; done'
    done = subprocess.run(
        ["xargs", "-0", "-n", "200", "-P", "2", "sh", "-c", script, "sh"],
        input="\0".join(ref for ref in refs if "\0" not in ref),
        capture_output=True,
        text=True,
        check=False,
    )
    refused = [ref for ref in done.stdout.split("\0") if ref]
    return refused + [ref for ref in refs if "\0" in ref]


def _explore(repo: Path, examples: int, tally: dict[str, int], refs: dict[str, str]) -> Callable[[], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(command_lines())
    def explore(argv: list[str]) -> None:
        tally["examples"] += 1
        refused: ParallelRunsError | None = None
        try:
            found = _settings_of(argv, repo)
        except ParallelRunsError as exc:
            refused = exc
        except Exception:  # a traceback: shrunk and reported by hypothesis
            tally["tracebacks"] += 1
            raise AssertionError(f"traceback for {argv!r}:\n{traceback.format_exc()}") from None
        if refused is not None:  # one line (an id's own newline is shown escaped), exit 2
            assert refused.exit_code == EXIT_USAGE, (argv, refused)
            assert "\n" not in str(refused).strip(), (argv, str(refused))
            tally["refused"] += 1
            return
        tally["accepted"] += 1
        for run_id in found.request.run_ids:
            tally["ids"] += 1
            outside = _paths_outside(found.machine.runs_dir, run_id, refs)
            tally["outside"] += len(outside)
            assert not outside, f"run id {run_id!r} puts {outside[0]} outside the runs dir"

    return explore


@pytest.mark.scenario("R4 hostile input")
@pytest.mark.timeout(3600)
def test_r4_generated_ids_and_flags_never_crash_or_escape(
    make_repo: Callable[..., Path], figures: Figures
) -> None:
    repo = make_repo()
    examples = count(full=10_000, quick=1_000)
    tally = dict.fromkeys(("examples", "refused", "accepted", "ids", "tracebacks", "outside"), 0)
    refs: dict[str, str] = {}
    try:
        _explore(repo, examples, tally, refs)()
    finally:
        invalid = _invalid_refs(refs)
        figures.trials = tally["examples"]
        figures.faults = f"{tally['examples']} command lines ({tally['refused']} refused with exit 2)"
        figures.notes = (
            f"{tally['ids']} accepted ids: {tally['tracebacks']} tracebacks, "
            f"{tally['outside']} paths outside, {len(invalid)} invalid refs of {len(refs)}"
        )
    assert not invalid, [(ref, refs[ref]) for ref in invalid[:5]]
