"""Fixtures shared by every test layer: real git repositories in tmp dirs, isolated git config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import LEAN_PYTEST_ADDOPTS, git, processes_with, reap_started

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """What a test started with start_cli ends with it, whether the test passed or not."""
    yield
    reap_started()


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's git config; every test has a git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    for name in ("AUTONOMOUS_RUNS_DIR", "DATABASE_URL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def interpreter_first_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python3` and `python` in the commands a test starts are this venv's base interpreter itself,
    as on a runner: a version manager's shim (pyenv's, on this machine) resolved them to the same
    interpreter through a shell script, ~0.1 s of CPU for each of hundreds of calls."""
    monkeypatch.setenv("PATH", os.pathsep.join((str(Path(sys.base_prefix) / "bin"), os.environ["PATH"])))


@pytest.fixture(autouse=True)
def lean_child_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pytest processes a test starts (the gate judging a project) load no hypothesis or anyio
    plugin: this venv has them for our own tests and the dashboard; their plugins cost every child
    pytest 0.45 s of its 0.8 s of CPU, and the suite starts hundreds. The projects never use them."""
    monkeypatch.setenv("PYTEST_ADDOPTS", LEAN_PYTEST_ADDOPTS)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a real git repository with a small committed project."""

    def make(name: str = "repo", files: dict[str, str] | None = None) -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        contents = files or {
            "README.md": "# demo\n",
            "app/__init__.py": "",
            "app/calc.py": "def add(a, b):\n    return a + b\n",
            ".gitignore": "*.pyc\nignored/\n",
        }
        for rel, text in contents.items():
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "initial")
        return repo

    return make


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    """A fresh repository with one commit."""
    return make_repo()


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A runs dir outside the repository (not created)."""
    return tmp_path / "runs"


@pytest.fixture
def markers() -> Iterator[list[str]]:
    """Unique sleep durations of commands started by a test; any left running are killed at teardown."""
    used: list[str] = []
    yield used
    for marker in used:
        for pid in processes_with(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Factory: a directory on its own tmpfs of the given size, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"cannot mount a tmpfs here: {done.stderr!r}")
            pytest.skip("needs root to mount a small tmpfs")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)
