"""The code under test is each run's own (issue #17): editable installs mapped, imports checked, venvs.

Real pip, real venvs, real git, offline: pip installs with --no-index --no-build-isolation through a
build backend of the tests' own (tests/editable_backend.py); a `.pth` in each venv names this
environment's site-packages, for pytest.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests import editable_backend, signy
from tests.editable_backend import PYPROJECT
from tests.helpers import cli, git

pytestmark = pytest.mark.slow

OUTER_SITE = sysconfig.get_paths()["purelib"]  # pytest and pip, for every venv made here
TESTS = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
# A second way to break signy: signatures lose their dot, so two other tests fail.
BREAK_SIGN = 'sed -i \'s/return value + b"." + self.get_signature(value)/return value + b"!"/\' {path}'
SIGN_BROKEN = (
    "tests/test_signy/test_signer.py::TestSigner::test_round_trip",
    "tests/test_signy/test_signer.py::test_empty_key_still_signs",
)
VENV_RECIPE = """\
#!/bin/sh
# The README's per-worktree venv recipe, offline: pytest comes from the test environment.
set -e
python -m venv --without-pip .venv
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$OUTER_SITE" > "$site/outer.pth"
python -m pip --python .venv/bin/python install -q --no-build-isolation --no-deps --no-index -e .
"""


def make_project(root: Path, *, layout: str = "src") -> Path:
    """signy, src layout (its editable install is a .pth) or flat (a PEP 660 finder's MAPPING)."""
    backend = Path(editable_backend.__file__).read_text()
    files = dict(signy.FILES, **{"pyproject.toml": PYPROJECT, "backend/editable_backend.py": backend})
    if layout == "flat":
        files = {path.removeprefix("src/"): text for path, text in files.items()}
    files[".gitignore"] += ".venv/\n*.egg-info/\n"
    files["scripts/venv.sh"] = VENV_RECIPE
    repo = root / "signy"
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "signy")
    return repo


def make_venv(path: Path) -> Path:
    """A venv without pip that sees this environment's site-packages (pytest, setuptools), with `pytest`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next((path / "lib").glob("python*/site-packages"))
    (site / "outer.pth").write_text(OUTER_SITE + "\n")
    script = path / "bin" / "pytest"
    script.write_text(f"#!{path / 'bin' / 'python'}\nimport sys, pytest\nsys.exit(pytest.console_main())\n")
    script.chmod(0o755)
    return path


def pip_install(venv: Path, *args: str, cwd: Path) -> None:
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    offline = ["--no-build-isolation", "--no-deps", "--no-index"]
    subprocess.run([*install, *offline, *args], check=True, capture_output=True, cwd=cwd)


def imported_from(venv: Path) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import signy; print(signy.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def result(repo: Path, slug: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".autonomous_runs" / slug / "result.json").read_text())
    return data


def with_venv(venv: Path, **extra: str) -> dict[str, str]:
    return signy.environment(PATH=f"{venv / 'bin'}:{signy.environment()['PATH']}", **extra)


@pytest.mark.parametrize(("layout", "runner"), [("src", "python -m pytest"), ("flat", "pytest")])
def test_an_editable_install_of_the_checkout_is_mapped_into_each_worktree(
    tmp_path: Path, layout: str, runner: str
) -> None:
    project = make_project(tmp_path, layout=layout)
    venv = make_venv(tmp_path / "venv")
    pip_install(venv, "-e", str(project), cwd=tmp_path)
    signer = "src/signy/signer.py" if layout == "src" else "signy/signer.py"
    assert imported_from(venv) == str(project / signer.replace("signer.py", "__init__.py"))
    breaker = signy.BREAK_SIGNER.replace("src/signy/signer.py", signer)
    command = f'case "$PARALLEL_RUNS_RUN_ID" in break) {breaker} ;; esac'
    done = cli(
        *("run", "--run-ids", "break,same", "--command", command),
        *("--test-command", f"{runner} -q -p no:cacheprovider"),
        cwd=project,
        env=with_venv(venv),
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == ""  # no warning: the mapping holds
    broken, same = result(project, "break"), result(project, "same")
    assert broken["status"] == "regressed"
    assert broken["tests"]["new_failures"] == list(signy.BROKEN)  # type: ignore[index]
    assert same["status"] == "succeeded"
    log = (project / ".autonomous_runs" / "break" / "run.log").read_text()
    entry = "src" if layout == "src" else "."
    workspace = project / ".autonomous_runs" / "workspaces" / "break"
    mapped = workspace / "src" if layout == "src" else workspace
    assert f"code under test mapped: {entry} \u2192 {mapped} (" in log
    assert "imports of the code under test checked in 1 Python process(es): all from this worktree" in log
    assert imported_from(venv) == str(project / signer.replace("signer.py", "__init__.py"))  # untouched


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path]:
    """The src-layout project and a venv with it installed editable, from the checkout."""
    project = make_project(tmp_path)
    venv = make_venv(tmp_path / "venv")
    pip_install(venv, "-e", str(project), cwd=tmp_path)
    return project, venv


def test_a_run_whose_tests_import_the_checkout_anyway_regresses(installed: tuple[Path, Path]) -> None:
    project, venv = installed
    sneak = f"import sys\nsys.path.insert(0, {str(project / 'src')!r})\n"
    command = (
        f'case "$PARALLEL_RUNS_RUN_ID" in sneaky) printf %s {shlex.quote(sneak)} > tests/conftest.py ;; esac'
    )
    done = cli(
        *("run", "--run-ids", "sneaky,same", "--command", command, "--test-command", " ".join(TESTS)),
        cwd=project,
        env=with_venv(venv),
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    sneaky = result(project, "sneaky")
    assert sneaky["status"] == "regressed"
    tests = sneaky["tests"]
    assert tests["status"] == "tests_imported_elsewhere"  # type: ignore[index]
    source = project / "src" / "signy" / "__init__.py"
    assert f"signy from {source} (the source checkout's)" in tests["reason"]  # type: ignore[index]
    assert "regressed sneaky (attempt 1, exit 0" in done.stdout
    assert f"tests_imported_elsewhere: signy from {source}" in done.stdout
    assert result(project, "same")["status"] == "succeeded"
    markdown = cli("report", "--format", "markdown", cwd=project).stdout
    assert f"- `sneaky`: tests imported the code under test from elsewhere: `signy from {source}" in markdown


def test_a_baseline_that_imports_the_checkout_stops_the_batch(installed: tuple[Path, Path]) -> None:
    project, venv = installed
    (project / "tests" / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(project / 'src')!r})\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a conftest that imports the checkout")
    done = cli(
        *("run", "--run-ids", "a", "--command", "true", "--test-command", " ".join(TESTS)),
        cwd=project,
        env=with_venv(venv),
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    [message] = done.stderr.splitlines()
    assert "imported the code under test from outside its worktree (signy from " in message
    assert "Fix: make the tests import the worktree's code" in message
    assert not (project / ".autonomous_runs" / "a").exists()


def test_a_venv_per_worktree_judges_each_run_on_its_own_code(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    breakers = {
        "break": signy.BREAK_SIGNER,
        "sign": BREAK_SIGN.format(path="src/signy/signer.py"),
    }
    command = (
        'case "$PARALLEL_RUNS_RUN_ID" in ' + " ".join(f"{k}) {v} ;;" for k, v in breakers.items()) + " esac"
    )
    done = cli(
        *("run", "--run-ids", "break,sign,same1,same2", "--workers", "4", "--command", command),
        *("--setup-command", "sh scripts/venv.sh", "--test-command", " ".join(TESTS)),
        cwd=project,
        env=signy.environment(OUTER_SITE=OUTER_SITE),
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == ""
    assert "baseline  8 tests at the base commit: 8 passed" in done.stdout
    assert result(project, "break")["tests"]["new_failures"] == list(signy.BROKEN)  # type: ignore[index]
    assert result(project, "sign")["tests"]["new_failures"] == list(SIGN_BROKEN)  # type: ignore[index]
    assert [result(project, slug)["status"] for slug in ("break", "sign", "same1", "same2")] == [
        "regressed",
        "regressed",
        "succeeded",
        "succeeded",
    ]
    log = (project / ".autonomous_runs" / "sign" / "run.log").read_text()
    assert "code under test mapped: none" in log  # the worktree's own venv imports its own code
    assert "tests (baseline) reused from" in log  # one baseline for the batch, whatever each run's venv


@pytest.mark.parametrize("tested", [True, False])
def test_a_setup_command_that_installs_into_the_shared_venv_is_stopped(
    installed: tuple[Path, Path], tested: bool
) -> None:
    project, venv = installed
    records = sorted(path.name for path in next((venv / "lib").glob("python*/site-packages")).iterdir())
    setup = "python -m pip install -q --no-build-isolation --no-deps --no-index -e ."
    tests = ("--test-command", " ".join(TESTS)) if tested else ()
    done = cli(
        *("run", "--run-ids", "a", "--command", "true", "--setup-command", setup, *tests),
        cwd=project,
        env=with_venv(venv),
        timeout=300,
    )
    site = next((venv / "lib").glob("python*/site-packages"))
    if tested:  # the baseline's setup runs first: no run starts
        assert done.returncode == 2, done.stdout + done.stderr
        [message] = done.stderr.splitlines()
        assert f"installed outside the baseline's worktree, into {site} (" in message
        assert not (project / ".autonomous_runs" / "a").exists()
    else:
        assert done.returncode == 1, done.stdout + done.stderr
        error = str(result(project, "a")["error"])
        assert error.startswith(
            f"setup_failed: the setup command installed outside its worktree, into {site} ("
        )
        message = error
    assert "Fix: make the setup command install into a virtualenv inside the worktree" in message
    assert "python -m venv .venv && .venv/bin/pip install -q -e ." in message
    # The user's venv is as it was: it still imports the checkout, not a deleted worktree.
    assert sorted(path.name for path in site.iterdir()) == records
    assert imported_from(venv) == str(project / "src" / "signy" / "__init__.py")
