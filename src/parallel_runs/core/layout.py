"""Where everything lives under the runs dir (CONTRACTS §3). Pure path arithmetic."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BRANCH_PREFIX",
    "SUBMODULE_REF_PREFIX",
    "RunPaths",
    "attempt_ref",
    "branch_name",
    "git_state_dir",
    "is_runs_dir",
    "lease_path_for",
    "refusal_path",
    "reuse_dir",
]

BRANCH_PREFIX = "parallel-runs/"
ATTEMPT_REF_PREFIX = "refs/parallel-runs/attempts/"
SUBMODULE_REF_PREFIX = "refs/parallel-runs/submodules/"


def branch_name(slug: str) -> str:
    """The run branch of a slug."""
    return f"{BRANCH_PREFIX}{slug}"


def attempt_ref(slug: str, attempt: int) -> str:
    """The ref that keeps the tip an earlier attempt left on the run branch."""
    return f"{ATTEMPT_REF_PREFIX}{slug}/{attempt}"


def lease_path_for(runs_dir: Path, workspace: Path) -> Path:
    """Workspace leases are keyed by the sha256 of the worktree's absolute path."""
    key = hashlib.sha256(str(workspace).encode("utf-8")).hexdigest()
    return runs_dir / ".workspace_leases" / f"{key}.lease"


def refusal_path(runs_dir: Path, batch_id: str) -> Path:
    """Where a batch refused before any run started is recorded (a dot dir: no run slug starts so)."""
    key = hashlib.sha256(batch_id.encode("utf-8")).hexdigest()[:16]
    return runs_dir / ".refused_batches" / f"{key}.json"


def reuse_dir(runs_dir: Path) -> Path:
    """Where the workers' reused worktrees live (--reuse-worktrees), each with its lock beside it."""
    return runs_dir / ".reuse"


def git_state_dir(runs_dir: Path) -> Path:
    """Where the batches working here record the repository's shared git state they started with."""
    return runs_dir / ".git-state"


def is_runs_dir(path: Path) -> bool:
    """`path` is a runs dir: new (empty), or holding the locks, leases or worktrees of one."""
    if not path.is_dir():
        return False
    names = {entry.name for entry in path.iterdir()}
    return not names or bool(names & {".locks", ".workspace_leases", "workspaces"})


@dataclass(frozen=True, slots=True)
class RunPaths:
    """Every path of one run, all absolute because `runs_dir` is."""

    runs_dir: Path
    slug: str

    def __post_init__(self) -> None:
        if not self.runs_dir.is_absolute():
            raise ValueError(f"runs dir must be absolute, got {self.runs_dir}")

    @property
    def workspace(self) -> Path:
        return self.runs_dir / "workspaces" / self.slug

    @property
    def lease(self) -> Path:
        return lease_path_for(self.runs_dir, self.workspace)

    @property
    def lock(self) -> Path:
        return self.runs_dir / ".locks" / f"{self.slug}.lock"

    @property
    def artifacts(self) -> Path:
        return self.runs_dir / self.slug

    @property
    def run_log(self) -> Path:
        return self.artifacts / "run.log"

    @property
    def result_json(self) -> Path:
        return self.artifacts / "result.json"

    @property
    def changes_patch(self) -> Path:
        return self.artifacts / "changes.patch"

    @property
    def ci_dir(self) -> Path:
        return self.artifacts / "ci"

    @property
    def baseline_json(self) -> Path:
        return self.ci_dir / "baseline.json"

    @property
    def after_json(self) -> Path:
        return self.ci_dir / "after.json"

    @property
    def delta_json(self) -> Path:
        return self.ci_dir / "delta.json"

    @property
    def database(self) -> Path:
        return self.artifacts / f"{self.slug}.db"

    @property
    def branch(self) -> str:
        return branch_name(self.slug)
