"""Issue #18: the CLI's parser loads none of the libraries its commands run (--help stays fast).

Each check is a real interpreter: `python -v` says on stderr `import 'NAME' ...` for every module
the process imports (`-X importtime` would miss those imported by importlib), so what
`python -m parallel_runs --help` loads is read from the process itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import parallel_runs.config
from parallel_runs.cli import build_parser
from parallel_runs.cli.common import command_paths
from tests.helpers import git, read_by_make_bench

# The libraries only a command's handler needs, and our own packages that load them.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "git",
    "github",
    "rich",
    "psycopg2",
    "filelock",
    "defusedxml",
    "starlette",
    "uvicorn",
    "jinja2",
    "parallel_runs.batch",
    "parallel_runs.store",
    "parallel_runs.git",
    "parallel_runs.report",
    "parallel_runs.gate",
    "parallel_runs.github",
    "parallel_runs.maintenance",
    "parallel_runs.dashboard",
)


def heavy_among(modules: set[str]) -> list[str]:
    """The HEAVY packages (or their submodules) among `modules`."""
    return sorted(
        {name for name in modules for heavy in HEAVY if name == heavy or name.startswith(f"{heavy}.")}
    )


def imported_by(*args: str, cwd: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module `python -v ARGS` imported (in `cwd`), and the finished process."""
    done = subprocess.run(
        [sys.executable, "-v", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    modules = {line.split("'")[1] for line in done.stderr.splitlines() if line.startswith("import '")}
    assert "parallel_runs.cli" in modules, done.stderr[-2000:]  # the listing itself worked
    return modules, done


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = "import sys, parallel_runs.cli; print('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(done.stdout.split())
    assert "parallel_runs.cli" in loaded
    assert heavy_among(loaded) == []


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("--version",), *[(*path, "--help") for path in command_paths(build_parser())]],
    ids=" ".join,
)
def test_help_and_version_load_no_heavy_library(argv: tuple[str, ...]) -> None:
    modules, done = imported_by("-m", "parallel_runs", *argv)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(("usage: parallel-runs", "parallel-runs "))
    assert heavy_among(modules) == []
    # A command's settings in its own module are cli/command_settings.py Records: typing.NamedTuple would load
    # typing (~5 ms), a dataclass inspect too (~20 ms).
    assert {"dataclasses", "inspect", "typing"} & modules == set()


def test_a_command_that_runs_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The check above can tell: `worktrees list` does load the engine (GitPython, rich)."""
    modules, _ = imported_by("-m", "parallel_runs", "worktrees", "list", "--runs-dir", str(tmp_path))
    assert {"git", "rich"} <= set(heavy_among(modules))


def test_a_run_on_per_run_sqlite_loads_no_postgresql(tmp_path: Path) -> None:
    """A run on the embedded store needs SQLAlchemy, not its PostgreSQL dialect (about 60 ms of CPU
    in each of a batch's processes) nor psycopg2: they load only for a shared store's statements."""
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "start")
    modules, done = imported_by(
        "-m", "parallel_runs", "run", "--run-ids", "a", "--command", "true", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sqlalchemy" in modules  # the per-run store itself
    assert sorted(m for m in modules if m.startswith(("sqlalchemy.dialects.postgresql", "psycopg2"))) == []


def test_every_config_name_resolves_although_loaded_lazily() -> None:
    for name in parallel_runs.config.__all__:
        assert getattr(parallel_runs.config, name) is not None, name


def parsers_by_path(parser: argparse.ArgumentParser) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command's parser by its path, the top-level one under ()."""
    found = {(): parser}
    for path in command_paths(parser):
        child = parser
        for name in path:
            child = next(
                action.choices[name]
                for action in child._actions
                if isinstance(action, argparse._SubParsersAction)
            )
        found[path] = child
    return found


def test_a_parser_built_for_one_command_says_what_the_whole_one_says() -> None:
    """`main` builds only the command it is given; its --help and usage are the whole parser's."""
    whole = parsers_by_path(build_parser())
    assert build_parser(only=[]).format_help() == whole[()].format_help()
    for path, parser in whole.items():
        if path:
            built = parsers_by_path(build_parser(only=path[:1]))[path]
            assert built.format_help() == parser.format_help(), path
            assert built.format_usage() == parser.format_usage(), path


def test_the_startup_bench_prints_a_row_per_command_and_the_worst_ratio() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "startup.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("  ")[0] for line in done.stdout.splitlines()}
    assert {"--help", "--version", "run --help", "worktrees list --help"} <= rows
    assert "worst ratio: " in done.stdout
    read_by_make_bench("startup.py", done.stdout)
