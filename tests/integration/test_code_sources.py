"""Where the code under test comes from (issue #17): the import mapping, the import hook, a worktree's venv.

Real interpreters and venvs; no pip (the install records are written as an installer leaves them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from parallel_runs.gate import import_mapping
from parallel_runs.gate.environments import changed_outside, watch_sites, with_worktree_venv
from parallel_runs.gate.import_hook import IMPORTS_ENV, ROOTS_ENV

FINDER = "MAPPING = {mapping!r}\ndef install():\n    pass\n"


def make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return next((path / "lib").glob("python*/site-packages"))


def test_what_points_into_the_checkout_is_mapped_and_the_rest_is_left_alone(tmp_path: Path) -> None:
    repo, runs_dir = tmp_path / "repo", tmp_path / "repo" / ".autonomous_runs"
    for directory in (repo / "src" / "pkg", repo / "flat", repo / "lib" / "other", runs_dir / "w1"):
        directory.mkdir(parents=True)
    site = make_venv(repo / ".venv")  # a venv inside the checkout: its own paths are not the code
    mapping = {"flat": str(repo / "flat"), "renamed": str(repo / "lib" / "other"), "far": "/elsewhere/far"}
    (site / "__editable___x_1_finder.py").write_text(FINDER.format(mapping=mapping))
    (site / "__editable__.x-1.pth").write_text(
        "import __editable___x_1_finder; __editable___x_1_finder.install()\n"
    )
    (site / "__editable__.pkg-1.pth").write_text(f"{repo / 'src'}\n{runs_dir / 'w1'}\n{site / 'inner'}\n")
    (site / "inner").mkdir()
    environ = {"PATH": f"{repo / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    found = import_mapping(command="python -m pytest", environ=environ, repo=repo, runs_dir=runs_dir)

    assert found.entries == (".", "src")  # the finder's `flat` under its parent; the .pth's src/
    assert found.paths_in(tmp_path / "wt") == [str(tmp_path / "wt"), str(tmp_path / "wt" / "src")]
    [unmapped] = found.unmapped
    assert f"maps renamed to {repo / 'lib' / 'other'}, whose name differs" in unmapped
    assert "an editable install: flat \u2192" in found.describe(tmp_path / "wt")
    nothing = import_mapping(
        command="python -m pytest", environ=environ, repo=tmp_path / "other", runs_dir=runs_dir
    )
    assert nothing.entries == ()
    assert nothing.unmapped == ()


def _stage_hook(directory: Path) -> None:
    directory.mkdir(parents=True)
    hook = resources.files("parallel_runs.gate").joinpath("import_hook.py").read_bytes()
    (directory / "sitecustomize.py").write_bytes(hook)


def test_the_import_hook_records_foreign_imports_and_runs_the_sitecustomize_it_shadows(
    tmp_path: Path,
) -> None:
    plugins, shadowed, checkout, worktree = (tmp_path / name for name in ("plugins", "theirs", "repo", "wt"))
    _stage_hook(plugins)
    shadowed.mkdir()
    (shadowed / "sitecustomize.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    for root in (checkout, worktree):
        (root / "mine").mkdir(parents=True)
        (root / "mine" / "__init__.py").write_text("")
    (checkout / "stray.py").write_text("")
    record = tmp_path / "imports.jsonl"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(str(path) for path in (plugins, shadowed, worktree, checkout)),
        IMPORTS_ENV: str(record),
        ROOTS_ENV: json.dumps({"own": [str(worktree)], "foreign": [str(checkout)]}),
    }
    child = "subprocess.run([sys.executable, '-c', 'import mine'], check=True)"
    script = f"import mine, stray, subprocess, sys; {child}"
    subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, timeout=60)

    assert (tmp_path / "ran").exists()  # the shadowed sitecustomize still ran
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(lines) == 2  # the test process and its child: each Python records once
    found = {name: path for line in lines for name, path in line["imported"].items()}
    assert found == {"stray": str(checkout / "stray.py")}  # `mine` came from the worktree


@pytest.mark.parametrize("made", [True, False])
def test_a_worktree_venv_comes_first_on_path(tmp_path: Path, made: bool) -> None:
    if made:
        (tmp_path / ".venv" / "bin").mkdir(parents=True)
    env = with_worktree_venv({"PATH": "/usr/bin", "PYTHONHOME": "/opt/py"}, tmp_path)
    if made:
        assert env == {
            "PATH": f"{tmp_path / '.venv' / 'bin'}:/usr/bin",
            "VIRTUAL_ENV": str(tmp_path / ".venv"),
        }
    else:
        assert env == {"PATH": "/usr/bin", "PYTHONHOME": "/opt/py"}


def test_an_install_outside_the_worktree_is_found_and_put_back(tmp_path: Path) -> None:
    site = make_venv(tmp_path / "venv")
    dist = site / "pkg-1.dist-info"
    dist.mkdir()
    (dist / "direct_url.json").write_text('{"url": "file:///repo", "dir_info": {"editable": true}}')
    (site / "__editable__.pkg-1.pth").write_text("/repo/src\n")
    untouched = make_venv(tmp_path / "other")  # a second Python on PATH, the one its `pytest` runs
    pytest_script = tmp_path / "other" / "bin" / "pytest"
    pytest_script.write_text(f"#!{tmp_path / 'other' / 'bin' / 'python'}\n")
    pytest_script.chmod(0o755)
    bins = (tmp_path / "venv" / "bin", tmp_path / "other" / "bin", os.environ["PATH"])
    environ = {"PATH": os.pathsep.join(map(str, bins))}
    sites, before = watch_sites(environ, tmp_path / "wt")
    assert {site, untouched} <= set(sites)
    assert changed_outside(sites, before) is None
    # What `pip install -e .` in a worktree does to that venv: a new dist-info, a new .pth.
    (site / "__editable__.pkg-1.pth").unlink()
    (dist / "direct_url.json").unlink()
    (site / "__editable__.pkg-2.pth").write_text("/runs/w1/src\n")
    (site / "pkg-2.dist-info").mkdir()

    changed = changed_outside(sites, before)

    assert changed is not None
    assert changed.startswith(f"{site} (")  # only the site that changed is named
    assert str(untouched) not in changed
    assert "__editable__.pkg-2.pth" in changed
    assert "pkg-1.dist-info" in changed
    assert (site / "__editable__.pkg-1.pth").read_text() == "/repo/src\n"
    assert json.loads((dist / "direct_url.json").read_text())["url"] == "file:///repo"
    assert not (site / "__editable__.pkg-2.pth").exists()
    assert not (site / "pkg-2.dist-info").exists()


def test_a_checkout_inside_the_pythons_prefix_is_still_mapped_and_checked(tmp_path: Path) -> None:
    """A system Python's prefix is /usr; a Docker image's checkout is often /usr/src/app."""
    prefix = tmp_path / "usr"
    site = make_venv(prefix)
    repo = prefix / "src" / "app"
    (repo / "src" / "mine").mkdir(parents=True)
    (repo / "src" / "mine" / "__init__.py").write_text("")
    (site / "__editable__.mine-1.pth").write_text(f"{repo / 'src'}\n")
    environ = {"PATH": f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    found = import_mapping(command="pytest", environ=environ, repo=repo, runs_dir=repo / ".autonomous_runs")
    assert found.entries == ("src",)

    plugins, record = tmp_path / "plugins", tmp_path / "imports.jsonl"
    _stage_hook(plugins)
    env = environ | {
        "PYTHONPATH": str(plugins),
        IMPORTS_ENV: str(record),
        ROOTS_ENV: json.dumps({"own": [str(tmp_path / "wt")], "foreign": [str(repo)]}),
    }
    python = str(prefix / "bin" / "python")
    subprocess.run([python, "-c", "import mine"], env=env, cwd=tmp_path, check=True, timeout=60)
    [line] = [json.loads(line) for line in record.read_text().splitlines()]
    assert line["imported"] == {"mine": str(repo / "src" / "mine" / "__init__.py")}
