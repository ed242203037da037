"""Issue #16 items 4-6 and 9: what a run does to git's shared config, attributes, index flags and
objects changes nothing of what any run saves."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.git import RunWorktree
from tests.helpers import cli, finish, git, start_cli, wait_for

# Run `a` changes a setting, then every run (a included) writes a new file and edits a tracked one.
CHANGES = (
    'echo "$PARALLEL_RUNS_RUN_ID" > "new-$PARALLEL_RUNS_RUN_ID.txt"; echo "$PARALLEL_RUNS_RUN_ID" >>README.md'
)
COMMON = "$(git rev-parse --path-format=absolute --git-common-dir)"


def _batch(repo: Path, setting: str, *, env: dict[str, str] | None = None, ids: str = "a,b,c") -> None:
    command = f'if [ "$PARALLEL_RUNS_RUN_ID" = a ]; then {setting}; fi; {CHANGES}'
    done = cli("run", "--run-ids", ids, "--workers", "1", "--command", command, cwd=repo, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def _assert_saved(repo: Path, ids: str = "a,b,c") -> None:
    """Every run's branch holds its new file and its edit, byte for byte."""
    for run_id in ids.split(","):
        branch = f"parallel-runs/{run_id}"
        assert git(repo, "show", f"{branch}:new-{run_id}.txt") == run_id, branch
        assert git(repo, "show", f"{branch}:README.md") == f"# demo\n{run_id}", branch


ZAP = "git config filter.zap.clean 'echo ZAPPED'"
SHARED_SETTINGS = {
    "excludes-file": f"printf '*\\n' > {COMMON}/../star; git config core.excludesFile {COMMON}/../star",
    "clean-filter": f"{ZAP}; echo '* filter=zap' >>{COMMON}/info/attributes",
    "ignore-stat": "git config core.ignoreStat true",
    "include": f"printf '[core]\\nignoreStat=1\\n' >{COMMON}/../i; git config include.path {COMMON}/../i",
    "autocrlf": "git config core.autocrlf true; git config core.safecrlf true",
}


@pytest.mark.parametrize("setting", SHARED_SETTINGS)
def test_a_runs_shared_config_hides_nothing_of_its_own_or_later_runs(repo: Path, setting: str) -> None:
    _batch(repo, SHARED_SETTINGS[setting])
    _assert_saved(repo)
    pattern = r"^(core\.(excludesfile|ignorestat|autocrlf)|filter|include)"
    left = subprocess.run(
        ["git", "config", "--get-regexp", pattern], cwd=repo, capture_output=True, check=False
    )
    assert left.stdout == b""
    assert not (repo / ".git" / "info" / "attributes").exists()
    result = json.loads((repo / ".autonomous_runs" / "a" / "result.json").read_text())
    assert str(repo / ".git" / "config") in result["restored_files"] or setting == "clean-filter"


def test_a_later_batch_saves_everything_after_a_runs_config(repo: Path) -> None:
    _batch(repo, SHARED_SETTINGS["excludes-file"], ids="a")
    _batch(repo, "true", ids="b")
    _assert_saved(repo, "a,b")


def test_settings_a_run_makes_in_the_global_config_are_not_used_by_the_save(
    repo: Path, tmp_path: Path
) -> None:
    """The global config is the user's, not put back: the save overrides what it changed."""
    (tmp_path / "star").write_text("*\n")
    changes = (
        f"git config --global core.excludesFile {tmp_path / 'star'};"
        "git config --global filter.z.clean 'echo Z'; git config --global filter.z.required true;"
        " git config --global core.ignoreStat true;"
        f"echo '* filter=z' > {COMMON}/info/attributes"
    )
    _batch(repo, changes, env={"GIT_CONFIG_GLOBAL": str(tmp_path / "global")})
    _assert_saved(repo)


INDEX_FLAGS = {
    "assume-unchanged": "git update-index --assume-unchanged README.md",
    "skip-worktree": "git update-index --skip-worktree README.md",
}


@pytest.mark.parametrize("flag", INDEX_FLAGS)
def test_index_flags_a_run_sets_hide_none_of_its_edits(repo: Path, flag: str) -> None:
    _batch(repo, INDEX_FLAGS[flag], ids="a")
    _assert_saved(repo, "a")


def test_a_sparse_checkouts_missing_files_are_not_saved_as_deleted(repo: Path) -> None:
    _batch(repo, "git update-index --skip-worktree app/calc.py; rm app/calc.py", ids="a")
    _assert_saved(repo, "a")
    assert git(repo, "show", "parallel-runs/a:app/calc.py") == git(repo, "show", "main:app/calc.py")


def _drop_blob(workspace: Path, path: str) -> None:
    """What a run's `git gc --prune=now` does to a blob only this worktree's index names, once a
    `git worktree prune` elsewhere made gc blind to this index: the object is gone."""
    blob = git(workspace, "rev-parse", f":{path}")
    objects = Path(git(workspace, "rev-parse", "--git-common-dir"))
    objects = objects if objects.is_absolute() else workspace / objects
    (objects / "objects" / blob[:2] / blob[2:]).unlink()


def test_a_save_rebuilds_the_tree_from_the_files_when_the_index_names_pruned_blobs(
    repo: Path, runs_dir: Path
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    ws = RunWorktree(repo=repo, paths=RunPaths(runs_dir=runs_dir, slug="r"))
    path = ws.create(base_sha=base, attempt=1)
    (path / "staged.txt").write_text("staged, then its blob pruned\n")
    (path / "README.md").write_text("edited and staged\n")
    for name in ("staged.txt", "README.md"):  # older than the index: git trusts their stat data
        os.utime(path / name, (time.time() - 3600, time.time() - 3600))
    git(path, "add", "staged.txt", "README.md")
    _drop_blob(path, "staged.txt")
    _drop_blob(path, "README.md")

    head = ws.save_changes(run_id="r", attempt=1, outcome=Outcome.ABANDONED, base_sha=base)

    assert head is not None
    assert git(repo, "show", f"{head}:staged.txt") == "staged, then its blob pruned"
    assert git(repo, "show", f"{head}:README.md") == "edited and staged"
    assert git(path, "status", "--porcelain") == ""  # the worktree's index is whole again
    ws.remove()  # git's own check finds nothing unsaved
    assert git(repo, "fsck", "--no-progress", "--connectivity-only") == ""


# Stage the run's changes, older than the index, then delete their blobs (see _drop_blob).
PRUNE = (
    'touch -d "-1 hour" new-a.txt README.md; git add new-a.txt README.md; for p in new-a.txt README.md;'
    f' do b=$(git rev-parse ":$p"); rm "{COMMON}/objects/${{b:0:2}}/${{b:2}}"; done'
)


def test_a_run_whose_staged_blobs_are_pruned_is_saved_from_its_files(repo: Path) -> None:
    command = f"{CHANGES}; {PRUNE}"
    done = cli("run", "--run-ids", "a", "--command", command, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_saved(repo, "a")


def test_recover_after_a_killed_batch_puts_the_config_back_and_saves_with_the_batchs_settings(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    taint = SHARED_SETTINGS["excludes-file"] + "; " + SHARED_SETTINGS["ignore-stat"]
    command = f"{CHANGES}; {taint}; touch {ready}; sleep 300"
    victim = start_cli("run", "--run-ids", "a", "--command", command, cwd=repo)
    wait_for(ready.exists, timeout=60, what="the run to change the config")
    victim.kill()  # the supervisor only: its run's process group lives on, as after a crash
    finish(victim)
    assert git(repo, "config", "core.ignoreStat") == "true"

    done = cli("recover", cwd=repo)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered a" in done.stdout
    _assert_saved(repo, "a")
    left = subprocess.run(["git", "config", "core.excludesFile"], cwd=repo, capture_output=True, check=False)
    assert left.stdout == b""
    assert not list((repo / ".autonomous_runs" / ".git-state").iterdir())  # used once, then gone


def test_recover_saves_a_killed_runs_worktree_whose_index_names_pruned_blobs(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    command = f"{CHANGES}; {PRUNE}; touch {ready}; sleep 300"
    victim = start_cli("run", "--run-ids", "a", "--command", command, cwd=repo)
    wait_for(ready.exists, timeout=60, what="the run to prune its staged blobs")
    victim.kill()
    finish(victim)

    done = cli("recover", cwd=repo)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered a" in done.stdout
    _assert_saved(repo, "a")
    assert not (repo / ".autonomous_runs" / "workspaces" / "a").exists()


# Run `a` stages its changes under the clean filter it set, older than the index: git trusts their
# stat data, so only re-reading the files shows their bytes are not the staged ZAPPED blob.
STAGED_ZAPPED = (
    f'{SHARED_SETTINGS["clean-filter"]}; {CHANGES}; touch -d "-1 hour" new-a.txt README.md; '
    "git add new-a.txt README.md"
)


def test_files_a_run_staged_under_its_clean_filter_are_saved_byte_for_byte(repo: Path) -> None:
    done = cli("run", "--run-ids", "a", "--command", STAGED_ZAPPED, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_saved(repo, "a")


def test_recover_saves_files_a_killed_run_staged_under_its_clean_filter_byte_for_byte(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    command = f"{STAGED_ZAPPED}; touch {ready}; sleep 300"
    victim = start_cli("run", "--run-ids", "a", "--command", command, cwd=repo)
    wait_for(ready.exists, timeout=60, what="the run to stage its files under its filter")
    victim.kill()
    finish(victim)

    done = cli("recover", cwd=repo)

    assert done.returncode == 0, done.stdout + done.stderr
    _assert_saved(repo, "a")
