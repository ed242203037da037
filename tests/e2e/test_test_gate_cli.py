"""A test gate that cannot lie, through the CLI (issue #10): an itsdangerous-like project, a real suite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import signy
from tests.helpers import git, run_cli

# A PEP 660 build backend of the standard library only, as setuptools writes for a src layout: the
# editable wheel is one .pth file naming the checkout's src/. pip installs it for real, offline.
BACKEND = """\
import base64, hashlib, os, zipfile

DIST = "signy-0.1.dist-info"
METADATA = "Metadata-Version: 2.1\\nName: signy\\nVersion: 0.1\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: signy_backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DIST), exist_ok=True)
    with open(os.path.join(metadata_directory, DIST, "METADATA"), "w") as stream:
        stream.write(METADATA)
    return DIST


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        "__editable__.signy-0.1.pth": (os.path.abspath("src") + "\\n").encode(),
        DIST + "/METADATA": METADATA.encode(),
        DIST + "/WHEEL": WHEEL.encode(),
    }
    def row(name, data):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{name},sha256={digest},{len(data)}\\n"
    record = "".join(row(name, data) for name, data in files.items()) + DIST + "/RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, "signy-0.1-py3-none-any.whl"), "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(DIST + "/RECORD", record)
    return "signy-0.1-py3-none-any.whl"
"""
PYPROJECT = """\
[project]
name = "signy"
version = "0.1"

[build-system]
requires = []
build-backend = "signy_backend"
backend-path = ["backend"]
"""


@pytest.fixture
def project(make_repo: Callable[..., Path]) -> Path:
    repo = make_repo("signy", signy.FILES)
    signy.make_executable(repo)
    git(repo, "commit", "-qam", "scripts/test.sh is executable")
    return repo


def result(repo: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())
    return data


@pytest.mark.parametrize(
    ("test_command", "said"),
    [
        ("pytset -q", "`pytset -q` was not found (exit 127) at the base commit"),
        ("pytest -q", "`pytest -q` collected no test (exit 2, 1 collection error(s): ModuleNotFoundError"),
    ],
)
def test_an_unknown_command_or_an_empty_baseline_stops_the_batch_before_any_run(
    project: Path, test_command: str, said: str
) -> None:
    done = run_cli(
        *("run", "--run-ids", "a,b", "--command", "touch started", "--test-command", test_command),
        cwd=project,
        env=signy.environment(),
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    [message] = done.stderr.splitlines()  # one line, naming what happened and the fix
    assert said in message
    assert "no run was started" in message
    assert "Fix: " in message
    if test_command == "pytset -q":
        assert "It printed: bash: line 1: pytset: command not found. Fix: check its spelling" in message
    else:
        assert "Fix: make the code under test importable (PYTHONPATH=src in the test command" in message
    assert "started" not in done.stdout  # no attempt began
    runs_dir = project / ".autonomous_runs"
    assert not (runs_dir / "a").exists()
    assert not (runs_dir / "b").exists()
    assert "parallel-runs/" not in git(project, "branch", "--list")


def test_broken_and_crashed_runs_regress_and_test_by_products_are_not_their_change(project: Path) -> None:
    command = (
        f'case "$PARALLEL_RUNS_RUN_ID" in break) {signy.BREAK_SIGNER} ;; '
        "conftest) echo 'import nonexistent_mod' > tests/conftest.py ;; esac"
    )
    done = run_cli(
        *("run", "--run-ids", "break,conftest,same", "--command", command),
        *("--test-command", "PYTHONPATH=src pytest -q --junitxml=report.xml"),
        cwd=project,
        env=signy.environment(),
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "baseline  8 tests at the base commit: 8 passed, 0 failing, 0 skipped" in done.stdout
    assert "1 file(s) changed, tests +5 \u22120, 0 flaky) \u2192 parallel-runs/break" in done.stdout
    assert "tests crashed: exit 4: pytest's usage error" in done.stdout
    broken, crashed, same = (result(project, slug) for slug in ("break", "conftest", "same"))
    assert broken["status"] == "regressed"
    assert broken["tests"]["new_failures"] == list(signy.BROKEN)  # type: ignore[index]
    assert crashed["status"] == "regressed"
    assert crashed["tests"]["status"] == "tests_crashed"  # type: ignore[index]
    assert same["status"] == "succeeded"
    # report.xml, written by every test phase, is on no branch and counted nowhere.
    assert (broken["changed_files"], crashed["changed_files"], same["changed_files"]) == (1, 1, 0)
    for run_id in ("break", "conftest", "same"):
        files = git(project, "ls-tree", "-r", "--name-only", f"parallel-runs/{run_id}").split()
        assert "report.xml" not in files
    assert "report.xml" not in (project / ".autonomous_runs" / "break" / "changes.patch").read_text()
    markdown = run_cli("report", "--format", "markdown", cwd=project)
    assert f"  - `{signy.BROKEN[0]}`: Failed: DID NOT RAISE BadSignature" in markdown.stdout
    assert "- `conftest`: tests crashed: `exit 4: pytest's usage error" in markdown.stdout


def test_an_editable_install_of_the_checkout_in_the_test_venv_is_warned_about(
    project: Path, tmp_path: Path
) -> None:
    (project / "backend").mkdir()
    (project / "backend" / "signy_backend.py").write_text(BACKEND)
    (project / "pyproject.toml").write_text(PYPROJECT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a build backend")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "outer.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")  # pytest
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    offline = ("--no-build-isolation", "--no-deps", "--no-index", "-e", str(project))
    subprocess.run([*install, *offline], check=True, capture_output=True, timeout=120)
    env = signy.environment(PATH=f"{venv / 'bin'}:{signy.environment()['PATH']}")
    args = ("run", "--run-ids", "break", "--command", signy.BREAK_SIGNER, "--test-command")

    fooled = run_cli(*args, "python -m pytest -q -p no:cacheprovider", cwd=project, env=env, timeout=300)
    assert fooled.returncode == 0, fooled.stdout + fooled.stderr  # the checkout's code was tested
    [warning] = [line for line in fooled.stderr.splitlines() if "warning" in line]
    assert f"the test command's Python {venv}/bin/python" in warning
    assert (
        f"imports the code under test from the source checkout {project} (an editable install of signy;"
        in warning
    )
    assert "Fix: put the worktree's sources first (PYTHONPATH=src in the test command" in warning

    fixed = run_cli(
        *args, "PYTHONPATH=src python -m pytest -q -p no:cacheprovider", "--redo", cwd=project, env=env
    )
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # the worktree's code: the run broke it
    assert "warning" not in fixed.stderr
