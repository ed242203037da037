"""The step harness: runs action.yml's steps the way the GitHub runner does (a test helper).

No Docker here, so no `act`. Each `run:` step is a real `bash --noprofile --norc -eo pipefail`
process with `${{ }}` substituted (inputs, github, env, runner, steps' outputs) and the step's
`env:`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_ENV`, `GITHUB_ACTION_PATH` and
`GITHUB_EVENT_PATH`. Stand-ins:
- `actions/setup-python`: nothing (the test's base Python, first on PATH, is used);
- `actions/upload-artifact` / `actions/download-artifact`: directory copies under one artifacts dir,
  with v4's rules (legal names, no overwriting, hidden files only with include-hidden-files,
  `!` exclusions, pattern + merge-multiple);
- `actions/cache`: its restore (the directory saved under the exact key, copied back to `path`;
  output `cache-hit`) and its save after the job's last step (when the key was missed and the
  path exists), in a cache dir of the repository that jobs share;
- the step `id: install` (pip install of the action): the test's own interpreter, which has the
  package installed from this checkout, unless the job asks for the real install (`real_install`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.action_expressions import Scope, condition, substitute

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
_ILLEGAL_ARTIFACT_CHARS = re.compile(r'[":<>|*?\r\n\\/]')


@dataclass
class StepResult:
    """One step as it ran (or was skipped)."""

    id: str
    name: str
    outcome: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    seconds: float = 0.0  # how long the step took


@dataclass
class ActionResult:
    """The whole action: its steps, outputs, job summary and raw log (as the runner received it)."""

    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str

    @property
    def ok(self) -> bool:
        return all(step.outcome != "failure" for step in self.steps)

    def step(self, step_id: str) -> StepResult:
        return next(step for step in self.steps if step.id == step_id)

    @property
    def log(self) -> str:
        return "".join(step.stdout + step.stderr for step in self.steps)

    @property
    def masks(self) -> list[str]:
        return [line.split("::add-mask::", 1)[1] for line in self.log.splitlines() if "::add-mask::" in line]

    @property
    def visible_log(self) -> str:
        """The log without the `::add-mask::` commands (the runner never shows those)."""
        return "\n".join(line for line in self.log.splitlines() if not line.startswith("::add-mask::"))


def _text(value: object) -> str:
    """A YAML scalar as the runner sees it: booleans are `true`/`false`."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _host_environment() -> dict[str, str]:
    """This process's environment without what a runner sets itself (tests may run inside Actions).
    Its PATH starts with the test's base interpreter (tests/conftest.py), as a runner's python3 is one."""
    ours = ("GITHUB_", "RUNNER_", "ACTIONS_", "PARALLEL_RUNS_", "INPUT_")
    return {key: value for key, value in os.environ.items() if not key.startswith(ours)}


def parse_output_file(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks, as the runner reads GITHUB_OUTPUT/GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            while lines[at] != delimiter:
                block.append(lines[at])
                at += 1
            at += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@dataclass
class Job:
    """One job's runner: a workspace (the checkout), RUNNER_TEMP, and the workflow run's artifacts."""

    workspace: Path
    runner_temp: Path
    artifacts: Path  # shared by every job of one workflow run
    env: dict[str, str] = field(default_factory=dict)  # job-level variables (GITHUB_*, HOME, ...)
    timeout: float = 240
    cache: Path | None = None  # actions/cache's store (shared by the repository's jobs)
    real_install: bool = False  # run the install step as written (pip install of this checkout)
    _saves: list[tuple[Path, Path]] = field(default_factory=list)  # (path, cache entry) to save

    def run(self, inputs: dict[str, str]) -> ActionResult:
        """Run action.yml with `inputs` (unset inputs take their defaults)."""
        action = yaml.safe_load(ACTION.read_text())
        given = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
        unknown = set(inputs) - set(given)
        assert not unknown, f"action.yml has no input {unknown}"
        given.update(inputs)
        contexts: dict[str, Any] = {
            "inputs": given,
            "github": self._github_context(),
            "env": dict(self.env),
            "runner": {"temp": str(self.runner_temp), "os": "Linux"},
            "steps": {},
        }
        results: list[StepResult] = []
        summary: list[str] = []
        for index, step in enumerate(action["runs"]["steps"]):
            scope = Scope(contexts, failed=any(r.outcome == "failure" for r in results))
            result = self._step(index, step, scope, summary)
            results.append(result)
            if result.id:
                contexts["steps"][result.id] = {"outputs": result.outputs, "outcome": result.outcome}
        for path, entry in self._saves:  # actions/cache's post step
            if path.is_dir() and not entry.exists():
                shutil.copytree(path, entry, symlinks=True)
        final = Scope(contexts)
        outputs = {name: substitute(spec["value"], final) for name, spec in action["outputs"].items()}
        return ActionResult(results, outputs, "".join(summary))

    def _github_context(self) -> dict[str, str]:
        keys = ("repository", "run_id", "run_attempt", "sha", "event_name", "workflow", "job", "api_url")
        return {key: self.env.get(f"GITHUB_{key.upper()}", "") for key in keys} | {"token": ""}

    def _step(self, index: int, step: dict[str, Any], scope: Scope, summary: list[str]) -> StepResult:
        step_id = step.get("id", f"__step{index}")
        name = substitute(str(step.get("name", step.get("uses", step_id))), scope)
        if not condition(step.get("if"), scope):
            return StepResult(step_id, name, "skipped")
        if step_id == "install" and not self.real_install:
            return StepResult(step_id, name, "success", {"python": sys.executable})
        if "uses" in step:
            with_ = {key: substitute(_text(value), scope) for key, value in (step.get("with") or {}).items()}
            started = time.monotonic()
            used = self._uses(step_id, name, step["uses"], with_)
            used.seconds = time.monotonic() - started
            return used
        env = {key: substitute(_text(value), scope) for key, value in (step.get("env") or {}).items()}
        script = substitute(step["run"], scope)
        return self._script(step_id, name, script, env=env, summary=summary, index=index)

    def _script(
        self, step_id: str, name: str, script: str, *, env: dict[str, str], summary: list[str], index: int
    ) -> StepResult:
        files = {
            key: self.runner_temp / f"_{key.lower()}_{index}_{uuid.uuid4().hex}"
            for key in ("OUTPUT", "SUMMARY", "ENV")
        }
        for path in files.values():
            path.write_text("")
        script_file = self.runner_temp / f"_step_{index}_{uuid.uuid4().hex}.sh"
        script_file.write_text(script)
        full_env = {
            **_host_environment(),
            **self.env,
            **env,
            "GITHUB_OUTPUT": str(files["OUTPUT"]),
            "GITHUB_STEP_SUMMARY": str(files["SUMMARY"]),
            "GITHUB_ENV": str(files["ENV"]),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(self.runner_temp),
            "GITHUB_WORKSPACE": str(self.workspace),
        }
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=self.workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        summary.append(files["SUMMARY"].read_text())
        self.env.update(parse_output_file(files["ENV"].read_text()))
        outputs = parse_output_file(files["OUTPUT"].read_text())
        outcome = "success" if done.returncode == 0 else "failure"
        seconds = time.monotonic() - started
        return StepResult(step_id, name, outcome, outputs, done.stdout, done.stderr, done.returncode, seconds)

    def _uses(self, step_id: str, name: str, uses: str, with_: dict[str, str]) -> StepResult:
        action = uses.split("@", 1)[0]
        if action == "actions/setup-python":
            return StepResult(step_id, name, "success")
        if action == "actions/cache":
            return self._cache(step_id, name, with_)
        if action == "actions/upload-artifact":
            return self._upload(step_id, name, with_)
        if action == "actions/download-artifact":
            return self._download(step_id, name, with_)
        raise AssertionError(f"the harness has no stand-in for {uses}")

    def _cache(self, step_id: str, name: str, with_: dict[str, str]) -> StepResult:
        if self.cache is None:
            return StepResult(step_id, name, "success", {"cache-hit": "false"})
        # Like actions/cache, the path is part of the entry's version: another path misses.
        path = Path(with_["path"])
        entry = self.cache / with_["key"] / hashlib.sha256(str(path).encode()).hexdigest()[:16]
        if entry.is_dir():
            shutil.copytree(entry, path, symlinks=True, dirs_exist_ok=True)
            return StepResult(step_id, name, "success", {"cache-hit": "true"})
        self._saves.append((path, entry))
        return StepResult(step_id, name, "success", {"cache-hit": "false"})

    def _upload(self, step_id: str, name: str, with_: dict[str, str]) -> StepResult:
        artifact = with_["name"]
        if not artifact or _ILLEGAL_ARTIFACT_CHARS.search(artifact):
            return StepResult(step_id, name, "failure", stderr=f"illegal artifact name {artifact!r}\n")
        target = self.artifacts / artifact
        if target.exists() and with_.get("overwrite", "false") == "true":
            shutil.rmtree(target)
        if target.exists():
            return StepResult(step_id, name, "failure", stderr=f"artifact {artifact!r} already exists\n")
        paths = [line.strip() for line in with_["path"].splitlines() if line.strip()]
        includes = [Path(p) for p in paths if not p.startswith("!")]
        excludes = [Path(p[1:]) for p in paths if p.startswith("!")]
        hidden = with_.get("include-hidden-files", "false") == "true"
        copied = 0
        for source in includes:
            root = source if source.is_dir() else source.parent
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            for file in files:
                relative = file.relative_to(root)
                if any(file == e or e in file.parents for e in excludes):
                    continue
                if not hidden and any(part.startswith(".") for part in relative.parts):
                    continue
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target / relative)
                copied += 1
        outcome = "success" if copied or with_.get("if-no-files-found", "warn") != "error" else "failure"
        return StepResult(step_id, name, outcome, stdout=f"uploaded {copied} file(s) as {artifact}\n")

    def _download(self, step_id: str, name: str, with_: dict[str, str]) -> StepResult:
        path = Path(with_.get("path") or self.workspace)
        pattern = with_.get("pattern") or "*"
        merge = with_.get("merge-multiple", "false") == "true"
        found = (
            sorted(p for p in self.artifacts.iterdir() if fnmatch.fnmatchcase(p.name, pattern))
            if self.artifacts.is_dir()
            else []
        )
        for artifact in found:
            shutil.copytree(artifact, path if merge else path / artifact.name, dirs_exist_ok=True)
        return StepResult(step_id, name, "success", stdout=f"downloaded {len(found)} artifact(s)\n")
